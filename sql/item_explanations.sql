-- Why each item of ds got its quota: which limit binds (cap, floor or neither), the prices of both,
-- and how its candidate pairs fared at the solver's prices. `fairshot explain --item I` shows one.
SELECT item_id, creator_id, is_new, n_candidates, quota, cap, floor, binds, cap_price, floor_price, like_price,
       n_served, n_part_served, n_outbid, n_not_worth, n_off_price, creator_trailing_likes, creator_marginal_value
FROM item_explanations
WHERE ds = :ds
ORDER BY item_id;
