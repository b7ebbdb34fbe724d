-- Per-word counts of right and wrong answers (GET /api/words, /api/groups/{id}/words,
-- /api/words/{id}, the dashboard's success rate) read only this index, never the table's rows:
-- an index-only scan over (word_id, correct). See bench/list_endpoints.py and docs/design.md,
-- "How reads stay cheap with a large history".
CREATE INDEX word_review_items_word_id_correct_idx ON word_review_items (word_id, correct);
