-- The feed's read contract: only the run marked published in the ledger is visible for each ds
-- (publishing a run marks the ds's earlier published run 'superseded'; failed audits stay visible
-- in the ledger as 'audit_failed' and never reach these views).
CREATE OR REPLACE TEMP VIEW published_runs AS
SELECT * FROM gold_allocation_runs WHERE status = 'published';

CREATE OR REPLACE TEMP VIEW feed_plan AS
SELECT a.ds, a.run_id, a.user_id, a.item_id, a.creator_id, a.x, a.selected, a.user_rank,
       a.user_key, a.item_key, a.creator_key
FROM gold_allocations a
JOIN published_runs r ON a.ds = r.ds AND a.run_id = r.run_id;

CREATE OR REPLACE TEMP VIEW published_item_quotas AS
SELECT q.* FROM gold_item_quotas q JOIN published_runs r ON q.ds = r.ds AND q.run_id = r.run_id;

CREATE OR REPLACE TEMP VIEW published_creator_outcomes AS
SELECT c.* FROM gold_creator_outcomes c JOIN published_runs r ON c.ds = r.ds AND c.run_id = r.run_id;

-- Why the published plan is what it is (allocation/explain.py; `fairshot explain` prints these).
-- Each candidate pair's score at the solver's prices -- value_term (the user's value) + creator_term
-- (the creator's next like at its price) + item_term (the item's floor bonus less its cap price) --
-- against the slot price its user's last slot went for: reduced_cost = score - slot_price > 0 means
-- served, < 0 not served, = 0 a shared slot.
CREATE OR REPLACE TEMP VIEW published_explanations AS
SELECT e.* FROM audit_allocation_explanations e JOIN published_runs r ON e.ds = r.ds AND e.run_id = r.run_id;

-- Per item: its quota against its cap and floor, which one binds and the prices of both.
CREATE OR REPLACE TEMP VIEW item_explanations AS
SELECT q.ds, q.run_id, q.item_id, q.creator_id, q.item_key, q.creator_key, q.is_new, q.plan_stage, q.n_candidates,
       q.quota, q.cap, q.floor,
       q.floor_shortfall,
       CASE WHEN q.quota >= q.cap - 1e-6 * GREATEST(1.0, q.cap) THEN 'cap'
            WHEN q.floor > 0 AND q.quota <= q.floor + 1e-6 * GREATEST(1.0, q.floor) THEN 'floor'
            ELSE 'neither' END AS binds,
       p.cap_price, p.floor_price, p.like_price, p.n_served, p.n_part_served, p.n_outbid, p.n_not_worth,
       p.n_off_price, c.trailing_likes AS creator_trailing_likes,
       c.expected_new_likes AS creator_expected_new_likes, c.marginal_value AS creator_marginal_value
FROM published_item_quotas q
LEFT JOIN (
    SELECT ds, run_id, item_id, MAX(cap_price) AS cap_price, MAX(floor_price) AS floor_price,
           MAX(like_price) AS like_price,
           SUM(CASE WHEN reason LIKE 'served%' THEN 1 ELSE 0 END) AS n_served,
           SUM(CASE WHEN reason LIKE 'part-served%' THEN 1 ELSE 0 END) AS n_part_served,
           SUM(CASE WHEN reason LIKE '%went to higher scores' THEN 1 ELSE 0 END) AS n_outbid,
           SUM(CASE WHEN reason LIKE '%below zero' THEN 1 ELSE 0 END) AS n_not_worth,
           SUM(CASE WHEN reason LIKE 'off-price%' THEN 1 ELSE 0 END) AS n_off_price
    FROM published_explanations GROUP BY ds, run_id, item_id
) p ON p.ds = q.ds AND p.run_id = q.run_id AND p.item_id = q.item_id
LEFT JOIN published_creator_outcomes c ON c.ds = q.ds AND c.run_id = q.run_id AND c.creator_id = q.creator_id;

-- Per user: slots, how many the plan fills and the price of the last one (category groups that
-- are full on their own have a higher one: see the user's pairs).
CREATE OR REPLACE TEMP VIEW user_explanations AS
SELECT e.ds, e.run_id, e.user_id, MAX(u.p_active) AS p_active, MAX(u.slot_capacity) AS slot_capacity,
       SUM(e.x) AS slots_planned, SUM(CASE WHEN e.selected THEN 1 ELSE 0 END) AS n_selected,
       MIN(e.slot_price) AS slot_price, COUNT(*) AS n_candidates
FROM published_explanations e
LEFT JOIN silver_user_availability u ON u.ds = e.ds AND u.user_id = e.user_id
GROUP BY e.ds, e.run_id, e.user_id;
