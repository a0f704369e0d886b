-- What the online feed serves tomorrow for :ds: each user's selected creator-side items in rank order.
SELECT user_id, item_id, creator_id, x, user_rank
FROM feed_plan
WHERE ds = :ds AND selected
ORDER BY user_id, user_rank;
