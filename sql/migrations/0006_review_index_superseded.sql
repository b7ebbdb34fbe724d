-- Per-word counts of right and wrong answers are read from the counters of migration 0005, so
-- nothing reads the (word_id, correct) index of migration 0002 any more; the plain (word_id)
-- index still serves the foreign key (ON DELETE CASCADE from words). One index fewer to update
-- on every review.
DROP INDEX word_review_items_word_id_correct_idx;
