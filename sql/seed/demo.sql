-- The demo data set loaded into a new embedded database (or with --seed-demo): a few groups,
-- a few study activities and the words of each group. Loaded once, only into an empty database.

INSERT INTO groups (name) VALUES
    ('Core Verbs'),
    ('Core Adjectives'),
    ('Food and Drink');

INSERT INTO study_activities (name, url, thumbnail_url, description) VALUES
    ('Typing Tutor', 'http://localhost:8081', 'http://localhost:8081/thumbnail.png',
     'Type the romaji of each word as it appears.'),
    ('Flashcards', 'http://localhost:8082', 'http://localhost:8082/thumbnail.png',
     'Flip a card, recall the meaning, and mark yourself right or wrong.'),
    ('Adventure MUD', 'http://localhost:8083', 'http://localhost:8083/thumbnail.png',
     'A text adventure whose commands are the words of the group.');

INSERT INTO words (kanji, romaji, english, parts) VALUES
    ('食べる', 'taberu', 'to eat',
     '[{"kanji": "食", "romaji": ["ta"]}, {"kanji": "べ", "romaji": ["be"]}, {"kanji": "る", "romaji": ["ru"]}]'),
    ('飲む', 'nomu', 'to drink',
     '[{"kanji": "飲", "romaji": ["no"]}, {"kanji": "む", "romaji": ["mu"]}]'),
    ('行く', 'iku', 'to go',
     '[{"kanji": "行", "romaji": ["i"]}, {"kanji": "く", "romaji": ["ku"]}]'),
    ('来る', 'kuru', 'to come',
     '[{"kanji": "来", "romaji": ["ku"]}, {"kanji": "る", "romaji": ["ru"]}]'),
    ('見る', 'miru', 'to see',
     '[{"kanji": "見", "romaji": ["mi"]}, {"kanji": "る", "romaji": ["ru"]}]'),
    ('大きい', 'ookii', 'big',
     '[{"kanji": "大", "romaji": ["oo"]}, {"kanji": "き", "romaji": ["ki"]}, {"kanji": "い", "romaji": ["i"]}]'),
    ('小さい', 'chiisai', 'small',
     '[{"kanji": "小", "romaji": ["chii"]}, {"kanji": "さ", "romaji": ["sa"]}, {"kanji": "い", "romaji": ["i"]}]'),
    ('新しい', 'atarashii', 'new',
     '[{"kanji": "新", "romaji": ["ata", "ra"]}, {"kanji": "し", "romaji": ["shi"]}, {"kanji": "い", "romaji": ["i"]}]'),
    ('水', 'mizu', 'water', '[{"kanji": "水", "romaji": ["mi", "zu"]}]'),
    ('お茶', 'ocha', 'tea', '[{"kanji": "お", "romaji": ["o"]}, {"kanji": "茶", "romaji": ["cha"]}]'),
    ('ご飯', 'gohan', 'rice; meal', '[{"kanji": "ご", "romaji": ["go"]}, {"kanji": "飯", "romaji": ["han"]}]'),
    ('魚', 'sakana', 'fish', '[{"kanji": "魚", "romaji": ["sa", "ka", "na"]}]');

INSERT INTO words_groups (word_id, group_id)
SELECT w.id, g.id
FROM words AS w
JOIN groups AS g ON g.name = CASE
    WHEN w.english LIKE 'to %' THEN 'Core Verbs'
    WHEN w.english IN ('big', 'small', 'new') THEN 'Core Adjectives'
    ELSE 'Food and Drink'
END;
