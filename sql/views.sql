-- The feed's read contract: only runs marked published in the ledger are visible, and for each ds
-- only the latest published run (reruns replace, the ledger keeps their history).
CREATE OR REPLACE TEMP VIEW published_runs AS
SELECT * FROM (
  SELECT r.*, ROW_NUMBER() OVER (PARTITION BY ds ORDER BY run_id DESC) AS _n
  FROM gold_allocation_runs r
  WHERE status = 'published'
) WHERE _n = 1;

CREATE OR REPLACE TEMP VIEW feed_plan AS
SELECT a.ds, a.run_id, a.user_id, a.item_id, a.creator_id, a.x, a.selected, a.user_rank
FROM gold_allocations a
JOIN published_runs r ON a.ds = r.ds AND a.run_id = r.run_id;

CREATE OR REPLACE TEMP VIEW published_item_quotas AS
SELECT q.* FROM gold_item_quotas q JOIN published_runs r ON q.ds = r.ds AND q.run_id = r.run_id;

CREATE OR REPLACE TEMP VIEW published_creator_outcomes AS
SELECT c.* FROM gold_creator_outcomes c JOIN published_runs r ON c.ds = r.ds AND c.run_id = r.run_id;
