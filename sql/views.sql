-- The feed's read contract: only the run marked published in the ledger is visible for each ds
-- (publishing a run marks the ds's earlier published run 'superseded'; failed audits stay visible
-- in the ledger as 'audit_failed' and never reach these views).
CREATE OR REPLACE TEMP VIEW published_runs AS
SELECT * FROM gold_allocation_runs WHERE status = 'published';

CREATE OR REPLACE TEMP VIEW feed_plan AS
SELECT a.ds, a.run_id, a.user_id, a.item_id, a.creator_id, a.x, a.selected, a.user_rank
FROM gold_allocations a
JOIN published_runs r ON a.ds = r.ds AND a.run_id = r.run_id;

CREATE OR REPLACE TEMP VIEW published_item_quotas AS
SELECT q.* FROM gold_item_quotas q JOIN published_runs r ON q.ds = r.ds AND q.run_id = r.run_id;

CREATE OR REPLACE TEMP VIEW published_creator_outcomes AS
SELECT c.* FROM gold_creator_outcomes c JOIN published_runs r ON c.ds = r.ds AND c.run_id = r.run_id;
