"""Static vocabulary for the synthetic B2B data set: names, titles, companies, pages.

Plain tuples only: nothing here draws random numbers or reads a clock. Lists whose position
feeds an arithmetic mapping (family names, company words) must keep their order, or seeds
stop reproducing the same data.
"""

from __future__ import annotations

# --- People ---------------------------------------------------------------------------------

# (romaji, kanji spellings). One entry per romaji, so "family index -> email local part"
# stays unique inside a company (see plan.identity); variant kanji (髙/高, 齋/斎/斉, 邊/邉/辺)
# share an entry.
JA_FAMILY: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Sato", ("佐藤",)),
    ("Suzuki", ("鈴木",)),
    ("Takahashi", ("高橋", "髙橋")),
    ("Tanaka", ("田中",)),
    ("Ito", ("伊藤",)),
    ("Watanabe", ("渡辺", "渡邊", "渡邉")),
    ("Yamamoto", ("山本",)),
    ("Nakamura", ("中村",)),
    ("Kobayashi", ("小林",)),
    ("Kato", ("加藤",)),
    ("Yoshida", ("吉田",)),
    ("Yamada", ("山田",)),
    ("Sasaki", ("佐々木",)),
    ("Yamaguchi", ("山口",)),
    ("Matsumoto", ("松本",)),
    ("Inoue", ("井上",)),
    ("Kimura", ("木村",)),
    ("Hayashi", ("林",)),
    ("Saito", ("斎藤", "齋藤", "斉藤")),
    ("Shimizu", ("清水",)),
    ("Yamazaki", ("山崎", "山﨑")),
    ("Mori", ("森",)),
    ("Ikeda", ("池田",)),
    ("Hashimoto", ("橋本",)),
    ("Abe", ("阿部",)),
    ("Ishikawa", ("石川",)),
    ("Yamashita", ("山下",)),
    ("Nakajima", ("中島",)),
    ("Ishii", ("石井",)),
    ("Ogawa", ("小川",)),
    ("Maeda", ("前田",)),
    ("Okada", ("岡田",)),
    ("Hasegawa", ("長谷川",)),
    ("Fujita", ("藤田",)),
    ("Goto", ("後藤",)),
    ("Kondo", ("近藤",)),
    ("Murakami", ("村上",)),
    ("Endo", ("遠藤",)),
    ("Aoki", ("青木",)),
    ("Sakamoto", ("坂本",)),
    ("Fukuda", ("福田",)),
    ("Ota", ("太田",)),
    ("Nishimura", ("西村",)),
    ("Fujii", ("藤井",)),
    ("Kaneko", ("金子",)),
    ("Okamoto", ("岡本",)),
    ("Fujiwara", ("藤原",)),
    ("Nakano", ("中野",)),
    ("Miura", ("三浦",)),
    ("Harada", ("原田",)),
    ("Matsuda", ("松田",)),
    ("Takeuchi", ("竹内",)),
    ("Ono", ("小野",)),
    ("Tamura", ("田村",)),
    ("Nakayama", ("中山",)),
    ("Wada", ("和田",)),
    ("Ishida", ("石田",)),
    ("Morita", ("森田",)),
    ("Ueda", ("上田",)),
    ("Shibata", ("柴田",)),
    ("Sakai", ("酒井",)),
)

# (romaji, kanji)
JA_GIVEN: tuple[tuple[str, str], ...] = (
    ("Taro", "太郎"),
    ("Ichiro", "一郎"),
    ("Kenta", "健太"),
    ("Shota", "翔太"),
    ("Daisuke", "大輔"),
    ("Takuya", "拓也"),
    ("Naoki", "直樹"),
    ("Koji", "浩二"),
    ("Makoto", "誠"),
    ("Tsuyoshi", "剛"),
    ("Kenichi", "健一"),
    ("Takashi", "隆"),
    ("Ryo", "亮"),
    ("Daiki", "大樹"),
    ("Kazuya", "和也"),
    ("Osamu", "修"),
    ("Manabu", "学"),
    ("Hiroyuki", "博之"),
    ("Masato", "正人"),
    ("Yuto", "悠人"),
    ("Hanako", "花子"),
    ("Yoko", "陽子"),
    ("Keiko", "恵子"),
    ("Misaki", "美咲"),
    ("Yumi", "由美"),
    ("Naoko", "直子"),
    ("Tomoko", "智子"),
    ("Mayumi", "真由美"),
    ("Sakura", "さくら"),
    ("Aya", "彩"),
    ("Ai", "愛"),
    ("Yuko", "優子"),
    ("Mai", "麻衣"),
    ("Rena", "玲奈"),
    ("Yui", "結衣"),
    ("Akemi", "明美"),
    ("Kumiko", "久美子"),
    ("Chihiro", "千尋"),
    ("Nana", "奈々"),
    ("Shinji", "真司"),
)

# (display, ascii for email). Includes an apostrophe (SOQL escaping) and non-ASCII letters.
EN_FAMILY: tuple[tuple[str, str], ...] = (
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("Brown", "brown"),
    ("Miller", "miller"),
    ("Davis", "davis"),
    ("Wilson", "wilson"),
    ("Taylor", "taylor"),
    ("Anderson", "anderson"),
    ("Thomas", "thomas"),
    ("Moore", "moore"),
    ("Martin", "martin"),
    ("Jackson", "jackson"),
    ("White", "white"),
    ("Harris", "harris"),
    ("Clark", "clark"),
    ("Lewis", "lewis"),
    ("Walker", "walker"),
    ("Young", "young"),
    ("King", "king"),
    ("Wright", "wright"),
    ("Scott", "scott"),
    ("Green", "green"),
    ("Baker", "baker"),
    ("Adams", "adams"),
    ("Nelson", "nelson"),
    ("Campbell", "campbell"),
    ("Mitchell", "mitchell"),
    ("Roberts", "roberts"),
    ("Carter", "carter"),
    ("Turner", "turner"),
    ("Parker", "parker"),
    ("O'Brien", "obrien"),
    ("Müller", "mueller"),
    ("García", "garcia"),
    ("Nguyen", "nguyen"),
    ("Kim", "kim"),
    ("Chen", "chen"),
    ("Singh", "singh"),
    ("Patel", "patel"),
    ("Schmidt", "schmidt"),
    ("Dubois", "dubois"),
)

EN_GIVEN: tuple[tuple[str, str], ...] = (
    ("James", "james"),
    ("John", "john"),
    ("Robert", "robert"),
    ("Michael", "michael"),
    ("David", "david"),
    ("William", "william"),
    ("Richard", "richard"),
    ("Thomas", "thomas"),
    ("Daniel", "daniel"),
    ("Matthew", "matthew"),
    ("Mary", "mary"),
    ("Jennifer", "jennifer"),
    ("Linda", "linda"),
    ("Sarah", "sarah"),
    ("Emily", "emily"),
    ("Jessica", "jessica"),
    ("Laura", "laura"),
    ("Anna", "anna"),
    ("Chloé", "chloe"),
    ("José", "jose"),
    ("Wei", "wei"),
    ("Priya", "priya"),
    ("Lukas", "lukas"),
    ("Sophie", "sophie"),
)

FREE_MAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "gmail.com",
    "yahoo.co.jp",
    "yahoo.co.jp",
    "outlook.com",
    "outlook.jp",
    "hotmail.co.jp",
    "icloud.com",
    "docomo.ne.jp",
)

# Title levels. DIRECTOR and EXEC count as "director or above" for fit scoring.
STAFF, SENIOR, MANAGER, DIRECTOR, EXEC, STUDENT, JOB_SEEKER = (
    "staff",
    "senior",
    "manager",
    "director",
    "exec",
    "student",
    "job_seeker",
)
DIRECTOR_OR_ABOVE: frozenset[str] = frozenset({DIRECTOR, EXEC})

JA_DEPARTMENTS: tuple[str, ...] = (
    "製造部",
    "生産技術部",
    "品質保証部",
    "情報システム部",
    "経営企画部",
    "営業部",
    "DX推進室",
    "購買部",
    "設備保全課",
    "工場長室",
)
# (title, level, takes a department prefix)
JA_TITLES: tuple[tuple[str, str, bool], ...] = (
    ("担当", STAFF, True),
    ("主任", SENIOR, True),
    ("係長", SENIOR, True),
    ("課長", MANAGER, True),
    ("課長代理", MANAGER, True),
    ("部長", DIRECTOR, True),
    ("本部長", DIRECTOR, False),
    ("事業部長", DIRECTOR, False),
    ("工場長", DIRECTOR, False),
    ("取締役", EXEC, False),
    ("常務取締役", EXEC, False),
    ("代表取締役社長", EXEC, False),
    ("社長", EXEC, False),
)
EN_TITLES: tuple[tuple[str, str], ...] = (
    ("Engineer", STAFF),
    ("Production Engineer", STAFF),
    ("Analyst", STAFF),
    ("Senior Engineer", SENIOR),
    ("Team Lead", SENIOR),
    ("Manager", MANAGER),
    ("Plant Manager", MANAGER),
    ("IT Manager", MANAGER),
    ("Director of Operations", DIRECTOR),
    ("Director, Manufacturing IT", DIRECTOR),
    ("VP of Operations", EXEC),
    ("VP Engineering", EXEC),
    ("Head of Manufacturing", DIRECTOR),
    ("Head of Digital", DIRECTOR),
    ("CEO", EXEC),
    ("CTO", EXEC),
    ("COO", EXEC),
)
STUDENT_TITLES: tuple[str, ...] = ("学生", "Student", "大学院生", "Graduate student")
JOB_SEEKER_TITLES: tuple[str, ...] = ("Job seeker", "求職中", "転職活動中")
UNIVERSITIES: tuple[str, ...] = (
    "東京工業大学",
    "大阪大学",
    "名古屋大学",
    "Keio University",
    "早稲田大学",
)

# A deliberately over-long title (Salesforce Title is 128 characters: STRING_TOO_LONG).
LONG_TITLE = (
    "グローバル製造統括本部 スマートファクトリー推進センター 生産システム改革プロジェクト "
    "兼 品質保証部 データ利活用ワーキンググループ リーダー (Global Manufacturing Headquarters, "
    "Smart Factory Promotion Center, Production System Reform Project / Quality Assurance "
    "Data Utilisation Working Group Leader) "
) * 2

# --- Companies ------------------------------------------------------------------------------

MANUFACTURING_INDUSTRIES: frozenset[str] = frozenset(
    {"MANUFACTURING", "MACHINERY", "INDUSTRIAL_AUTOMATION", "AUTOMOTIVE"}
)

# HubSpot industry enum -> Salesforce standard Account.Industry picklist value.
SF_INDUSTRY: dict[str, str] = {
    "MANUFACTURING": "Manufacturing",
    "MACHINERY": "Machinery",
    "INDUSTRIAL_AUTOMATION": "Engineering",
    "AUTOMOTIVE": "Manufacturing",
    "RETAIL": "Retail",
    "INFORMATION_TECHNOLOGY_AND_SERVICES": "Technology",
    "COMPUTER_SOFTWARE": "Technology",
    "FINANCIAL_SERVICES": "Finance",
    "BANKING": "Banking",
    "HOSPITAL_HEALTH_CARE": "Healthcare",
    "LOGISTICS_AND_SUPPLY_CHAIN": "Transportation",
    "CONSTRUCTION": "Construction",
}

# (romaji for domains, kanji for names). Order matters (see module docstring).
REGIONS: tuple[tuple[str, str], ...] = (
    ("tokai", "東海"),
    ("kansai", "関西"),
    ("hokuriku", "北陸"),
    ("kyushu", "九州"),
    ("tohoku", "東北"),
    ("chubu", "中部"),
    ("yamato", "大和"),
    ("nippon", "日本"),
    ("fuji", "富士"),
    ("mikawa", "三河"),
    ("shonan", "湘南"),
    ("setouchi", "瀬戸内"),
    ("shinshu", "信州"),
    ("hokkai", "北海"),
    ("hamamatsu", "浜松"),
    ("naniwa", "浪速"),
    ("owari", "尾張"),
    ("asahi", "旭"),
    ("showa", "昭和"),
    ("toyo", "東洋"),
    ("taiheiyo", "太平洋"),
    ("meiwa", "明和"),
    ("shinko", "新光"),
    ("koyo", "光洋"),
    ("maruichi", "丸一"),
    ("yamaichi", "山一"),
    ("sakura", "さくら"),
    ("midori", "みどり"),
    ("kyoei", "共栄"),
    ("daiichi", "第一"),
    ("sanwa", "三和"),
)

# (romaji, Japanese word, English word, HubSpot industry). Manufacturing-family words are
# over-represented on purpose: the product sells to factories.
BUSINESS_WORDS: tuple[tuple[str, str, str, str], ...] = (
    ("seiki", "精機", "Precision", "MANUFACTURING"),
    ("seisakusho", "製作所", "Works", "MANUFACTURING"),
    ("kogyo", "工業", "Industries", "MANUFACTURING"),
    ("kinzoku", "金属", "Metals", "MANUFACTURING"),
    ("kagaku", "化学", "Chemical", "MANUFACTURING"),
    ("denki", "電機", "Electric", "MANUFACTURING"),
    ("shokuhin", "食品", "Foods", "MANUFACTURING"),
    ("kikai", "機械", "Machinery", "MACHINERY"),
    ("juko", "重工", "Heavy Industries", "MACHINERY"),
    ("kosakuki", "工作機", "Machine Tools", "MACHINERY"),
    ("automation", "オートメーション", "Automation", "INDUSTRIAL_AUTOMATION"),
    ("robotics", "ロボティクス", "Robotics", "INDUSTRIAL_AUTOMATION"),
    ("seigyo", "制御", "Controls", "INDUSTRIAL_AUTOMATION"),
    ("buhin", "自動車部品", "Auto Parts", "AUTOMOTIVE"),
    ("motors", "モータース", "Motors", "AUTOMOTIVE"),
    ("shoten", "商店", "Trading", "RETAIL"),
    ("store", "ストア", "Stores", "RETAIL"),
    ("systems", "システムズ", "Systems", "INFORMATION_TECHNOLOGY_AND_SERVICES"),
    ("solutions", "ソリューションズ", "Solutions", "INFORMATION_TECHNOLOGY_AND_SERVICES"),
    ("soft", "ソフト", "Software", "COMPUTER_SOFTWARE"),
    ("tech", "テクノロジーズ", "Technologies", "COMPUTER_SOFTWARE"),
    ("securities", "証券", "Securities", "FINANCIAL_SERVICES"),
    ("lease", "リース", "Leasing", "FINANCIAL_SERVICES"),
    ("bank", "銀行", "Bank", "BANKING"),
    ("shinkin", "信用金庫", "Shinkin Bank", "BANKING"),
    ("medical", "メディカル", "Medical", "HOSPITAL_HEALTH_CARE"),
    ("byoin", "病院", "Hospital", "HOSPITAL_HEALTH_CARE"),
    ("logistics", "ロジスティクス", "Logistics", "LOGISTICS_AND_SUPPLY_CHAIN"),
    ("unyu", "運輸", "Transport", "LOGISTICS_AND_SUPPLY_CHAIN"),
    ("kensetsu", "建設", "Construction", "CONSTRUCTION"),
    ("komuten", "工務店", "Builders", "CONSTRUCTION"),
)

# Legal-form style: (Japanese name template, English suffix, top-level domain)
LEGAL_FORMS: tuple[tuple[str, str, str], ...] = (
    ("株式会社{}", "Co., Ltd.", "co.jp"),
    ("{}株式会社", "Corporation", "co.jp"),
    ("{}", "Inc.", "com"),
    ("株式会社{}", "K.K.", "jp"),
)

JP_CITIES: tuple[str, ...] = (
    "Tokyo",
    "Tokyo",
    "Tokyo",
    "Tokyo",
    "Osaka",
    "Osaka",
    "Nagoya",
    "Yokohama",
    "Fukuoka",
    "Sapporo",
    "Hamamatsu",
    "Toyota",
    "Kyoto",
    "Kobe",
    "Hiroshima",
    "Sendai",
    "東京都",
    "大阪市",
    "名古屋市",
)
FOREIGN_LOCATIONS: tuple[tuple[str, str], ...] = (
    ("United States", "San Jose"),
    ("United States", "Chicago"),
    ("Germany", "Stuttgart"),
    ("Singapore", "Singapore"),
    ("Thailand", "Bangkok"),
    ("Vietnam", "Hanoi"),
)

# Company names that stress encodings and lengths (used for a small share of companies).
ODD_COMPANY_NAMES: tuple[str, ...] = (
    "🚀 Rocket Factory 合同会社",
    "ｶﾌﾞｼｷｶﾞｲｼｬ ﾔﾏﾀﾞｾｲｷ",  # half-width katakana, as some legacy systems export
    "Müller & Söhne GmbH 日本支社",
    "株式会社 O'Reilly ジャパン",
    "一般社団法人 日本スマートファクトリー推進協議会 関西支部 "
    "製造業デジタルトランスフォーメーション研究会",
)

# --- Marketing ------------------------------------------------------------------------------

SITE = "https://www.example-corp.jp"

# (path, Japanese title, English title)
PAGES: tuple[tuple[str, str, str], ...] = (
    ("/", "製造DXソリューション | Example Corp", "Manufacturing DX solutions | Example Corp"),
    (
        "/whitepaper/smart-factory-guide",
        "ホワイトペーパー: 製造DX入門",
        "White paper: Smart factory guide",
    ),
    (
        "/case-studies/automotive-parts",
        "導入事例: 自動車部品メーカー様",
        "Case study: automotive parts maker",
    ),
    ("/case-studies/food-plant", "導入事例: 食品工場様", "Case study: food plant"),
    (
        "/case-studies/precision-machining",
        "導入事例: 精密加工メーカー様",
        "Case study: precision machining",
    ),
    ("/products/mes", "MES 製品紹介", "MES product overview"),
    ("/products/iot-platform", "IoTプラットフォーム", "IoT platform"),
    ("/pricing", "料金プラン", "Pricing"),
    ("/webinars", "ウェビナー一覧", "Webinars"),
    ("/consultation", "個別相談のお申し込み", "Request a consultation"),
    ("/contact", "お問い合わせ", "Contact us"),
    (
        "/blog/predictive-maintenance",
        "予知保全の始め方 | ブログ",
        "Getting started with predictive maintenance",
    ),
    ("/careers", "採用情報", "Careers"),
    ("/newsletter", "メールマガジン登録", "Newsletter signup"),
)
PAGE_INDEX: dict[str, int] = {path: i for i, (path, _, _) in enumerate(PAGES)}
BROWSE_PAGES: tuple[int, ...] = tuple(
    PAGE_INDEX[p]
    for p in (
        "/",
        "/case-studies/automotive-parts",
        "/case-studies/food-plant",
        "/case-studies/precision-machining",
        "/products/mes",
        "/products/iot-platform",
        "/pricing",
        "/webinars",
        "/blog/predictive-maintenance",
    )
)
REFERRERS: tuple[str, ...] = (
    "https://www.google.com/",
    "https://www.google.co.jp/",
    "https://search.yahoo.co.jp/",
    "https://www.bing.com/",
    "https://www.linkedin.com/",
    "https://t.co/",
    SITE + "/",
)

# Forms: key -> (name, language, landing path, fields). Field tuples:
# (name, Japanese label, English label, fieldType, required)
FORM_FIELDS: dict[str, tuple[str, str, str, str, bool]] = {
    "email": ("email", "メールアドレス", "Email", "email", True),
    "lastname": ("lastname", "姓", "Last name", "single_line_text", True),
    "firstname": ("firstname", "名", "First name", "single_line_text", True),
    "company": ("company", "会社名", "Company name", "single_line_text", True),
    "jobtitle": ("jobtitle", "役職", "Job title", "single_line_text", False),
    "phone": ("phone", "電話番号", "Phone number", "phone", False),
    "message": ("message", "ご相談内容", "Message", "multi_line_text", False),
}
FORMS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    (
        "whitepaper_en",
        "White paper: Smart factory guide",
        "en",
        "/en/whitepaper/smart-factory-guide",
        ("email", "firstname", "lastname", "company", "jobtitle"),
    ),
    (
        "whitepaper_ja",
        "ホワイトペーパー: 製造DX入門",
        "ja",
        "/whitepaper/smart-factory-guide",
        ("email", "lastname", "firstname", "company", "jobtitle"),
    ),
    (
        "consultation_en",
        "Consultation request",
        "en",
        "/en/consultation",
        ("email", "firstname", "lastname", "company", "jobtitle", "phone", "message"),
    ),
    (
        "consultation_ja",
        "個別相談申し込み",
        "ja",
        "/consultation",
        ("email", "lastname", "firstname", "company", "jobtitle", "phone", "message"),
    ),
    (
        "contact_us",
        "Contact us",
        "en",
        "/contact",
        ("email", "firstname", "lastname", "company", "phone", "message"),
    ),
    (
        "webinar",
        "Webinar registration",
        "ja",
        "/webinars/register",
        ("email", "lastname", "firstname", "company", "jobtitle"),
    ),
    ("newsletter", "Newsletter signup", "ja", "/newsletter", ("email",)),
)
FORM_KEYS: tuple[str, ...] = tuple(f[0] for f in FORMS)
WHITEPAPER_FORMS: frozenset[str] = frozenset({"whitepaper_en", "whitepaper_ja"})
CONSULTATION_FORMS: frozenset[str] = frozenset({"consultation_en", "consultation_ja"})

CONSULTATION_MESSAGES: tuple[str, ...] = (
    "工場の設備稼働率の見える化について相談したいです。",
    "MESの導入費用と期間の目安を教えてください。",
    "We are evaluating IoT platforms for three plants; please contact me.",
    "予知保全のPoCを検討しています。ウェビナーを拝見しました。",
    "",
)

# Webinars: day offsets from the day of `now` (UTC); the last one is upcoming.
WEBINARS: tuple[tuple[int, str], ...] = (
    (-165, "スマートファクトリー実践ウェビナー: 予知保全の始め方"),
    (-135, "Webinar: From PoC to plant-wide IoT"),
    (-105, "製造現場のデータ活用 入門ウェビナー"),
    (-75, "MES導入の失敗に学ぶ 5つのポイント"),
    (-45, "Webinar: Quality analytics with machine learning"),
    (-15, "生産計画の自動化 ウェビナー"),
    (10, "【オンライン】製造DX 最新事例セミナー"),
)

# Email click targets for each kind of campaign.
NURTURE_LINKS: tuple[str, ...] = (
    "/case-studies/automotive-parts",
    "/case-studies/food-plant",
    "/case-studies/precision-machining",
    "/products/mes",
    "/pricing",
)

USER_AGENTS: tuple[tuple[str, str, str], ...] = (
    # (userAgent, browser family, deviceType)
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36",
        "Chrome",
        "COMPUTER",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36 Edg/124.0",
        "Microsoft Edge",
        "COMPUTER",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mobile Safari",
        "MOBILE",
    ),
    ("Microsoft Outlook 16.0", "Outlook", "COMPUTER"),
)
LOCATIONS: tuple[tuple[str, str, str], ...] = (
    ("Japan", "tokyo", "tokyo"),
    ("Japan", "osaka", "osaka"),
    ("Japan", "aichi", "nagoya"),
    ("Japan", "kanagawa", "yokohama"),
    ("United States", "california", "san jose"),
)

# Bounce categories from HubSpot's email events docs (see hubspot.py for the source note).
HARD_BOUNCE_CATEGORIES: tuple[str, ...] = ("UNKNOWN_USER", "UNKNOWN_USER", "POLICY", "SPAM")
SOFT_BOUNCE_CATEGORIES: tuple[str, ...] = ("MAILBOX_FULL", "TEMPORARY_PROBLEM", "THROTTLED")
BOUNCE_RESPONSES: dict[str, tuple[str, str]] = {
    "UNKNOWN_USER": ("550", "550 5.1.1 <{}>: Recipient address rejected: User unknown"),
    "POLICY": ("550", "550 5.7.1 Message rejected due to local policy"),
    "SPAM": ("554", "554 5.7.1 Message rejected as spam"),
    "MAILBOX_FULL": ("452", "452 4.2.2 Mailbox full"),
    "TEMPORARY_PROBLEM": ("421", "421 4.4.2 Connection timed out, try again later"),
    "THROTTLED": ("421", "421 4.7.0 Too many messages, slow down"),
}

# --- Salesforce -----------------------------------------------------------------------------

# (FirstName, LastName, Alias, Title); the last one is the default owner (lead queue user).
SF_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("健一", "佐藤", "ksato", "Account Executive"),
    ("美咲", "鈴木", "msuzu", "Account Executive"),
    ("Daniel", "Wright", "dwrig", "Senior Account Executive"),
    ("直樹", "高橋", "ntaka", "Inside Sales"),
    ("由美", "伊藤", "yito", "Inside Sales"),
    ("Sales", "Operations", "salesops", "Default lead owner"),
)
SF_LEAD_SOURCES: tuple[str, ...] = (
    "Web",
    "Web",
    "Webinar",
    "Trade Show",
    "Partner Referral",
    "Other",
)
SF_OPEN_LEAD_STATUSES: tuple[str, ...] = ("Open - Not Contacted", "Working - Contacted")
SF_OPPORTUNITY_STAGES: tuple[tuple[str, int], ...] = (
    ("Prospecting", 10),
    ("Qualification", 10),
    ("Needs Analysis", 20),
    ("Proposal/Price Quote", 75),
    ("Negotiation/Review", 90),
    ("Closed Won", 100),
    ("Closed Lost", 0),
)
SF_ROLE_MAILBOXES: tuple[tuple[str, str], ...] = (
    ("info", "総務"),
    ("keiri", "経理"),
    ("purchasing", "購買"),
    ("soumu", "総務部"),
)
