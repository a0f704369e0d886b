-- What the online feed serves tomorrow for :ds: each user's selected creator-side items in rank order.
-- The *_key columns are the source's own ids (a CSV's names or UUIDs; integer ids as themselves).
SELECT user_key, item_key, creator_key, user_id, item_id, creator_id, x, user_rank
FROM feed_plan
WHERE ds = :ds AND selected
ORDER BY user_id, user_rank;
