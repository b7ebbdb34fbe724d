-- The demo data set loaded into a new embedded database (or with --seed-demo), and again by
-- POST /api/full_reset: three groups of everyday Japanese words (35 verbs, 37 adjectives, 30 words
-- of food and drink), each word with its kanji, romaji (Hepburn), English and parts (each
-- character with the romaji of its kana, one syllable per entry), and three study activities.
-- Loaded only into an empty database. Groups and activities keep these ids (1, 2, 3) in order.

INSERT INTO groups (name) VALUES
    ('Core Verbs'),
    ('Core Adjectives'),
    ('Food and Drink');

-- The Typing Tutor comes with the server (static/typing/): its url is relative, and the launch page
-- resolves it against the API's origin, the server that serves it. The other two are external apps
-- that are not part of this project: nothing is bundled for them, and their descriptions say so.
INSERT INTO study_activities (name, url, thumbnail_url, description) VALUES
    ('Typing Tutor', '/static/typing/', '/static/typing/thumbnail.svg',
     'Type the romaji of each word as it appears.'),
    ('Flashcards', 'http://localhost:8082', 'http://localhost:8082/thumbnail.png',
     'Flip a card, recall the meaning, and mark yourself right or wrong. An external app, not '
     'bundled with this server: it opens only if one runs at localhost:8082.'),
    ('Adventure MUD', 'http://localhost:8083', 'http://localhost:8083/thumbnail.png',
     'A text adventure whose commands are the words of the group. An external app, not bundled '
     'with this server: it opens only if one runs at localhost:8083.');

WITH inserted AS (
    INSERT INTO words (kanji, romaji, english, parts) VALUES
        ('食べる', 'taberu', 'to eat', '[{"kanji": "食", "romaji": ["ta"]}, {"kanji": "べ", "romaji": ["be"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('飲む', 'nomu', 'to drink', '[{"kanji": "飲", "romaji": ["no"]}, {"kanji": "む", "romaji": ["mu"]}]'),
        ('行く', 'iku', 'to go', '[{"kanji": "行", "romaji": ["i"]}, {"kanji": "く", "romaji": ["ku"]}]'),
        ('来る', 'kuru', 'to come', '[{"kanji": "来", "romaji": ["ku"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('見る', 'miru', 'to see', '[{"kanji": "見", "romaji": ["mi"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('買う', 'kau', 'to buy', '[{"kanji": "買", "romaji": ["ka"]}, {"kanji": "う", "romaji": ["u"]}]'),
        ('売る', 'uru', 'to sell', '[{"kanji": "売", "romaji": ["u"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('読む', 'yomu', 'to read', '[{"kanji": "読", "romaji": ["yo"]}, {"kanji": "む", "romaji": ["mu"]}]'),
        ('書く', 'kaku', 'to write', '[{"kanji": "書", "romaji": ["ka"]}, {"kanji": "く", "romaji": ["ku"]}]'),
        ('話す', 'hanasu', 'to speak', '[{"kanji": "話", "romaji": ["ha", "na"]}, {"kanji": "す", "romaji": ["su"]}]'),
        ('聞く', 'kiku', 'to listen; to hear', '[{"kanji": "聞", "romaji": ["ki"]}, {"kanji": "く", "romaji": ["ku"]}]'),
        ('会う', 'au', 'to meet', '[{"kanji": "会", "romaji": ["a"]}, {"kanji": "う", "romaji": ["u"]}]'),
        ('待つ', 'matsu', 'to wait', '[{"kanji": "待", "romaji": ["ma"]}, {"kanji": "つ", "romaji": ["tsu"]}]'),
        ('持つ', 'motsu', 'to hold; to carry', '[{"kanji": "持", "romaji": ["mo"]}, {"kanji": "つ", "romaji": ["tsu"]}]'),
        ('帰る', 'kaeru', 'to go home', '[{"kanji": "帰", "romaji": ["ka", "e"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('入る', 'hairu', 'to enter', '[{"kanji": "入", "romaji": ["ha", "i"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('出る', 'deru', 'to leave; to go out', '[{"kanji": "出", "romaji": ["de"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('寝る', 'neru', 'to sleep', '[{"kanji": "寝", "romaji": ["ne"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('起きる', 'okiru', 'to get up', '[{"kanji": "起", "romaji": ["o"]}, {"kanji": "き", "romaji": ["ki"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('歩く', 'aruku', 'to walk', '[{"kanji": "歩", "romaji": ["a", "ru"]}, {"kanji": "く", "romaji": ["ku"]}]'),
        ('走る', 'hashiru', 'to run', '[{"kanji": "走", "romaji": ["ha", "shi"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('泳ぐ', 'oyogu', 'to swim', '[{"kanji": "泳", "romaji": ["o", "yo"]}, {"kanji": "ぐ", "romaji": ["gu"]}]'),
        ('使う', 'tsukau', 'to use', '[{"kanji": "使", "romaji": ["tsu", "ka"]}, {"kanji": "う", "romaji": ["u"]}]'),
        ('作る', 'tsukuru', 'to make', '[{"kanji": "作", "romaji": ["tsu", "ku"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('教える', 'oshieru', 'to teach', '[{"kanji": "教", "romaji": ["o", "shi"]}, {"kanji": "え", "romaji": ["e"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('習う', 'narau', 'to learn', '[{"kanji": "習", "romaji": ["na", "ra"]}, {"kanji": "う", "romaji": ["u"]}]'),
        ('休む', 'yasumu', 'to rest', '[{"kanji": "休", "romaji": ["ya", "su"]}, {"kanji": "む", "romaji": ["mu"]}]'),
        ('遊ぶ', 'asobu', 'to play', '[{"kanji": "遊", "romaji": ["a", "so"]}, {"kanji": "ぶ", "romaji": ["bu"]}]'),
        ('立つ', 'tatsu', 'to stand', '[{"kanji": "立", "romaji": ["ta"]}, {"kanji": "つ", "romaji": ["tsu"]}]'),
        ('座る', 'suwaru', 'to sit', '[{"kanji": "座", "romaji": ["su", "wa"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('開ける', 'akeru', 'to open', '[{"kanji": "開", "romaji": ["a"]}, {"kanji": "け", "romaji": ["ke"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('閉める', 'shimeru', 'to close', '[{"kanji": "閉", "romaji": ["shi"]}, {"kanji": "め", "romaji": ["me"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('知る', 'shiru', 'to know', '[{"kanji": "知", "romaji": ["shi"]}, {"kanji": "る", "romaji": ["ru"]}]'),
        ('思う', 'omou', 'to think', '[{"kanji": "思", "romaji": ["o", "mo"]}, {"kanji": "う", "romaji": ["u"]}]'),
        ('分かる', 'wakaru', 'to understand', '[{"kanji": "分", "romaji": ["wa"]}, {"kanji": "か", "romaji": ["ka"]}, {"kanji": "る", "romaji": ["ru"]}]')
    RETURNING id
)
INSERT INTO words_groups (word_id, group_id)
SELECT inserted.id, groups.id FROM inserted JOIN groups ON groups.name = 'Core Verbs';

WITH inserted AS (
    INSERT INTO words (kanji, romaji, english, parts) VALUES
        ('大きい', 'ookii', 'big', '[{"kanji": "大", "romaji": ["o", "o"]}, {"kanji": "き", "romaji": ["ki"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('小さい', 'chiisai', 'small', '[{"kanji": "小", "romaji": ["chi", "i"]}, {"kanji": "さ", "romaji": ["sa"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('新しい', 'atarashii', 'new', '[{"kanji": "新", "romaji": ["a", "ta", "ra"]}, {"kanji": "し", "romaji": ["shi"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('古い', 'furui', 'old (of things)', '[{"kanji": "古", "romaji": ["fu", "ru"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('高い', 'takai', 'tall; expensive', '[{"kanji": "高", "romaji": ["ta", "ka"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('安い', 'yasui', 'cheap', '[{"kanji": "安", "romaji": ["ya", "su"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('低い', 'hikui', 'low', '[{"kanji": "低", "romaji": ["hi", "ku"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('長い', 'nagai', 'long', '[{"kanji": "長", "romaji": ["na", "ga"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('短い', 'mijikai', 'short', '[{"kanji": "短", "romaji": ["mi", "ji", "ka"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('広い', 'hiroi', 'wide; spacious', '[{"kanji": "広", "romaji": ["hi", "ro"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('狭い', 'semai', 'narrow; cramped', '[{"kanji": "狭", "romaji": ["se", "ma"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('暑い', 'atsui', 'hot (weather)', '[{"kanji": "暑", "romaji": ["a", "tsu"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('寒い', 'samui', 'cold (weather)', '[{"kanji": "寒", "romaji": ["sa", "mu"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('冷たい', 'tsumetai', 'cold (to the touch)', '[{"kanji": "冷", "romaji": ["tsu", "me"]}, {"kanji": "た", "romaji": ["ta"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('暖かい', 'atatakai', 'warm', '[{"kanji": "暖", "romaji": ["a", "ta", "ta"]}, {"kanji": "か", "romaji": ["ka"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('早い', 'hayai', 'early', '[{"kanji": "早", "romaji": ["ha", "ya"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('速い', 'hayai', 'fast', '[{"kanji": "速", "romaji": ["ha", "ya"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('遅い', 'osoi', 'late; slow', '[{"kanji": "遅", "romaji": ["o", "so"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('近い', 'chikai', 'near', '[{"kanji": "近", "romaji": ["chi", "ka"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('遠い', 'tooi', 'far', '[{"kanji": "遠", "romaji": ["to", "o"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('多い', 'ooi', 'many', '[{"kanji": "多", "romaji": ["o", "o"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('少ない', 'sukunai', 'few', '[{"kanji": "少", "romaji": ["su", "ku"]}, {"kanji": "な", "romaji": ["na"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('強い', 'tsuyoi', 'strong', '[{"kanji": "強", "romaji": ["tsu", "yo"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('弱い', 'yowai', 'weak', '[{"kanji": "弱", "romaji": ["yo", "wa"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('重い', 'omoi', 'heavy', '[{"kanji": "重", "romaji": ["o", "mo"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('軽い', 'karui', 'light (in weight)', '[{"kanji": "軽", "romaji": ["ka", "ru"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('明るい', 'akarui', 'bright', '[{"kanji": "明", "romaji": ["a", "ka"]}, {"kanji": "る", "romaji": ["ru"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('暗い', 'kurai', 'dark', '[{"kanji": "暗", "romaji": ["ku", "ra"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('忙しい', 'isogashii', 'busy', '[{"kanji": "忙", "romaji": ["i", "so", "ga"]}, {"kanji": "し", "romaji": ["shi"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('楽しい', 'tanoshii', 'fun; enjoyable', '[{"kanji": "楽", "romaji": ["ta", "no"]}, {"kanji": "し", "romaji": ["shi"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('難しい', 'muzukashii', 'difficult', '[{"kanji": "難", "romaji": ["mu", "zu", "ka"]}, {"kanji": "し", "romaji": ["shi"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('易しい', 'yasashii', 'easy', '[{"kanji": "易", "romaji": ["ya", "sa"]}, {"kanji": "し", "romaji": ["shi"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('白い', 'shiroi', 'white', '[{"kanji": "白", "romaji": ["shi", "ro"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('黒い', 'kuroi', 'black', '[{"kanji": "黒", "romaji": ["ku", "ro"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('赤い', 'akai', 'red', '[{"kanji": "赤", "romaji": ["a", "ka"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('青い', 'aoi', 'blue', '[{"kanji": "青", "romaji": ["a", "o"]}, {"kanji": "い", "romaji": ["i"]}]'),
        ('美味しい', 'oishii', 'delicious', '[{"kanji": "美", "romaji": ["o"]}, {"kanji": "味", "romaji": ["i"]}, {"kanji": "し", "romaji": ["shi"]}, {"kanji": "い", "romaji": ["i"]}]')
    RETURNING id
)
INSERT INTO words_groups (word_id, group_id)
SELECT inserted.id, groups.id FROM inserted JOIN groups ON groups.name = 'Core Adjectives';

WITH inserted AS (
    INSERT INTO words (kanji, romaji, english, parts) VALUES
        ('水', 'mizu', 'water', '[{"kanji": "水", "romaji": ["mi", "zu"]}]'),
        ('お茶', 'ocha', 'tea', '[{"kanji": "お", "romaji": ["o"]}, {"kanji": "茶", "romaji": ["cha"]}]'),
        ('ご飯', 'gohan', 'rice; meal', '[{"kanji": "ご", "romaji": ["go"]}, {"kanji": "飯", "romaji": ["ha", "n"]}]'),
        ('魚', 'sakana', 'fish', '[{"kanji": "魚", "romaji": ["sa", "ka", "na"]}]'),
        ('肉', 'niku', 'meat', '[{"kanji": "肉", "romaji": ["ni", "ku"]}]'),
        ('野菜', 'yasai', 'vegetables', '[{"kanji": "野", "romaji": ["ya"]}, {"kanji": "菜", "romaji": ["sa", "i"]}]'),
        ('果物', 'kudamono', 'fruit', '[{"kanji": "果", "romaji": ["ku", "da"]}, {"kanji": "物", "romaji": ["mo", "no"]}]'),
        ('卵', 'tamago', 'egg', '[{"kanji": "卵", "romaji": ["ta", "ma", "go"]}]'),
        ('牛乳', 'gyuunyuu', 'milk', '[{"kanji": "牛", "romaji": ["gyu", "u"]}, {"kanji": "乳", "romaji": ["nyu", "u"]}]'),
        ('パン', 'pan', 'bread', '[{"kanji": "パ", "romaji": ["pa"]}, {"kanji": "ン", "romaji": ["n"]}]'),
        ('お酒', 'osake', 'alcohol; sake', '[{"kanji": "お", "romaji": ["o"]}, {"kanji": "酒", "romaji": ["sa", "ke"]}]'),
        ('寿司', 'sushi', 'sushi', '[{"kanji": "寿", "romaji": ["su"]}, {"kanji": "司", "romaji": ["shi"]}]'),
        ('天ぷら', 'tenpura', 'tempura', '[{"kanji": "天", "romaji": ["te", "n"]}, {"kanji": "ぷ", "romaji": ["pu"]}, {"kanji": "ら", "romaji": ["ra"]}]'),
        ('味噌汁', 'misoshiru', 'miso soup', '[{"kanji": "味", "romaji": ["mi"]}, {"kanji": "噌", "romaji": ["so"]}, {"kanji": "汁", "romaji": ["shi", "ru"]}]'),
        ('醤油', 'shouyu', 'soy sauce', '[{"kanji": "醤", "romaji": ["sho", "u"]}, {"kanji": "油", "romaji": ["yu"]}]'),
        ('塩', 'shio', 'salt', '[{"kanji": "塩", "romaji": ["shi", "o"]}]'),
        ('砂糖', 'satou', 'sugar', '[{"kanji": "砂", "romaji": ["sa"]}, {"kanji": "糖", "romaji": ["to", "u"]}]'),
        ('鶏肉', 'toriniku', 'chicken (meat)', '[{"kanji": "鶏", "romaji": ["to", "ri"]}, {"kanji": "肉", "romaji": ["ni", "ku"]}]'),
        ('牛肉', 'gyuuniku', 'beef', '[{"kanji": "牛", "romaji": ["gyu", "u"]}, {"kanji": "肉", "romaji": ["ni", "ku"]}]'),
        ('豚肉', 'butaniku', 'pork', '[{"kanji": "豚", "romaji": ["bu", "ta"]}, {"kanji": "肉", "romaji": ["ni", "ku"]}]'),
        ('豆腐', 'toufu', 'tofu', '[{"kanji": "豆", "romaji": ["to", "u"]}, {"kanji": "腐", "romaji": ["fu"]}]'),
        ('米', 'kome', 'uncooked rice', '[{"kanji": "米", "romaji": ["ko", "me"]}]'),
        ('朝ご飯', 'asagohan', 'breakfast', '[{"kanji": "朝", "romaji": ["a", "sa"]}, {"kanji": "ご", "romaji": ["go"]}, {"kanji": "飯", "romaji": ["ha", "n"]}]'),
        ('昼ご飯', 'hirugohan', 'lunch', '[{"kanji": "昼", "romaji": ["hi", "ru"]}, {"kanji": "ご", "romaji": ["go"]}, {"kanji": "飯", "romaji": ["ha", "n"]}]'),
        ('晩ご飯', 'bangohan', 'dinner', '[{"kanji": "晩", "romaji": ["ba", "n"]}, {"kanji": "ご", "romaji": ["go"]}, {"kanji": "飯", "romaji": ["ha", "n"]}]'),
        ('弁当', 'bentou', 'boxed lunch', '[{"kanji": "弁", "romaji": ["be", "n"]}, {"kanji": "当", "romaji": ["to", "u"]}]'),
        ('林檎', 'ringo', 'apple', '[{"kanji": "林", "romaji": ["ri", "n"]}, {"kanji": "檎", "romaji": ["go"]}]'),
        ('蕎麦', 'soba', 'buckwheat noodles', '[{"kanji": "蕎", "romaji": ["so"]}, {"kanji": "麦", "romaji": ["ba"]}]'),
        ('箸', 'hashi', 'chopsticks', '[{"kanji": "箸", "romaji": ["ha", "shi"]}]'),
        ('料理', 'ryouri', 'cooking; cuisine', '[{"kanji": "料", "romaji": ["ryo", "u"]}, {"kanji": "理", "romaji": ["ri"]}]')
    RETURNING id
)
INSERT INTO words_groups (word_id, group_id)
SELECT inserted.id, groups.id FROM inserted JOIN groups ON groups.name = 'Food and Drink';

-- A word may be in several groups: the verbs and the adjective of eating and drinking are food
-- words too.
INSERT INTO words_groups (word_id, group_id)
SELECT words.id, groups.id
FROM words JOIN groups ON groups.name = 'Food and Drink'
WHERE words.kanji IN ('食べる', '飲む', '美味しい');
