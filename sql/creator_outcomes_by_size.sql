-- Who the plan for :ds helps: expected new likes and happiness by creator size (trailing likes).
SELECT
  CASE WHEN trailing_likes = 0 THEN '0'
       WHEN trailing_likes < 10 THEN '1-9'
       WHEN trailing_likes < 100 THEN '10-99'
       ELSE '100+' END AS trailing_likes_band,
  COUNT(*) AS creators,
  ROUND(SUM(expected_new_likes), 2) AS expected_new_likes,
  ROUND(AVG(expected_new_likes), 3) AS mean_new_likes,
  ROUND(SUM(happiness_gain), 3) AS happiness_gain
FROM published_creator_outcomes
WHERE ds = :ds
GROUP BY 1
ORDER BY MIN(trailing_likes);
