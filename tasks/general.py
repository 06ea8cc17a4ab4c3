"""General-capability sets shared by every suite: encyclopedic text and well-known facts.

Two disjoint halves are cut from the same tables by alternating rows: `preservation_set()` is
what methods may use to know what to preserve (LaLoRA's curvature, SC-LoRA's preserved
subspace), identically for every method; `probe_set()` is held out and only measures
degradation (known-fact retention and text NLL). No text and no fact prompt is in both halves.

Facts are short completions ("The capital of France is" -> " Paris") from tables of capitals,
chemical symbols, authors, currencies, languages, famous people, science and everyday knowledge.
Rows were kept only where SmolLM2-135M-Instruct (Q4_1, float32, CPU) predicts every answer
token as the teacher-forced arg-max, so nearly all of them count toward fact retention (a run
records which probe facts its base model actually knows). Texts are plain encyclopedic
passages written for hipbench that do not state any of the facts. Everything is fixed data: no
randomness, no network, no third-party corpus.
"""
from __future__ import annotations

from itertools import zip_longest

from hipbench.suite import Example, GeneralSet

CAPITALS = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"),
    ("China", "Beijing"), ("Russia", "Moscow"), ("the United Kingdom", "London"), ("Greece", "Athens"),
    ("Portugal", "Lisbon"), ("Austria", "Vienna"), ("Ireland", "Dublin"), ("Norway", "Oslo"),
    ("Sweden", "Stockholm"), ("Denmark", "Copenhagen"), ("Hungary", "Budapest"), ("Canada", "Ottawa"),
    ("Kenya", "Nairobi"), ("Thailand", "Bangkok"), ("South Korea", "Seoul"), ("Cuba", "Havana"),
    ("Mexico", "Mexico City"), ("the Netherlands", "Amsterdam"), ("Indonesia", "Jakarta"),
    ("the Philippines", "Manila"), ("Vietnam", "Hanoi"), ("Chile", "Santiago"), ("the Czech Republic", "Prague"),
    ("Scotland", "Edinburgh"), ("Ethiopia", "Addis Ababa"), ("Pakistan", "Islamabad"), ("Romania", "Bucharest"),
    ("Afghanistan", "Kabul"), ("Syria", "Damascus"), ("Iceland", "Reykjavik"), ("Bulgaria", "Sofia"),
]
SYMBOLS = [
    ("gold", "Au"), ("silver", "Ag"), ("iron", "Fe"), ("copper", "Cu"), ("sodium", "Na"), ("potassium", "K"),
    ("lead", "Pb"), ("oxygen", "O"), ("hydrogen", "H"), ("nitrogen", "N"), ("calcium", "Ca"), ("mercury", "Hg"),
    ("tin", "Sn"), ("zinc", "Zn"), ("chlorine", "Cl"), ("sulfur", "S"), ("uranium", "U"), ("aluminium", "Al"),
    ("lithium", "Li"),
]
# (book, author's first name(s) given in the prompt, surname to complete)
AUTHORS = [
    ("Hamlet", "William", "Shakespeare"), ("Pride and Prejudice", "Jane", "Austen"),
    ("Crime and Punishment", "Fyodor", "Dostoevsky"), ("The Great Gatsby", "F. Scott", "Fitzgerald"),
    ("Don Quixote", "Miguel de", "Cervantes"), ("A Christmas Carol", "Charles", "Dickens"),
    ("Dracula", "Bram", "Stoker"), ("Les Miserables", "Victor", "Hugo"),
    ("The Old Man and the Sea", "Ernest", "Hemingway"), ("The Adventures of Tom Sawyer", "Mark", "Twain"),
    ("The Time Machine", "H. G.", "Wells"), ("Alice's Adventures in Wonderland", "Lewis", "Carroll"),
    ("The Jungle Book", "Rudyard", "Kipling"), ("Treasure Island", "Robert Louis", "Stevenson"),
    ("The Raven", "Edgar Allan", "Poe"), ("Robinson Crusoe", "Daniel", "Defoe"),
    ("Gulliver's Travels", "Jonathan", "Swift"), ("The Hobbit", "J.R.R.", "Tolkien"),
]
CURRENCIES = [
    ("Japan", "yen"), ("the United Kingdom", "pound"), ("India", "rupee"), ("China", "yuan"), ("Russia", "ruble"),
    ("Mexico", "peso"), ("South Africa", "rand"),
]
LANGUAGES = [
    ("Mexico", "Spanish"), ("Germany", "German"), ("France", "French"), ("Italy", "Italian"), ("Russia", "Russian"),
    ("Egypt", "Arabic"), ("Poland", "Polish"), ("Turkey", "Turkish"), ("the Netherlands", "Dutch"),
    ("Thailand", "Thai"), ("Vietnam", "Vietnamese"), ("Argentina", "Spanish"),
]
PEOPLE = [
    ("The theory of relativity was developed by Albert", "Einstein"),
    ("The telephone was invented by Alexander Graham", "Bell"),
    ("The first man to walk on the Moon was Neil", "Armstrong"),
    ("The Mona Lisa was painted by Leonardo da", "Vinci"),
    ("The first President of the United States was George", "Washington"),
    ("The laws of motion were formulated by Isaac", "Newton"),
    ("The light bulb is often credited to Thomas", "Edison"),
    ("The theory of evolution by natural selection was proposed by Charles", "Darwin"),
    ("The Fifth Symphony was composed by Ludwig van", "Beethoven"),
    ("Guernica was painted by Pablo", "Picasso"),
    ("The Starry Night was painted by Vincent van", "Gogh"),
    ("Radioactivity was studied by Marie", "Curie"),
    ("Penicillin was discovered by Alexander", "Fleming"),
    ("America was reached in 1492 by Christopher", "Columbus"),
    ("The Roman general who crossed the Rubicon was Julius", "Caesar"),
    ("South Africa's first black president was Nelson", "Mandela"),
    ("India's independence movement was led by Mahatma", "Gandhi"),
    ("The sixteenth President of the United States was Abraham", "Lincoln"),
]
SCIENCE_AND_PLACES = [
    ("The largest planet in the solar system is", "Jupiter"),
    ("The planet we live on is called", "Earth"),
    ("The natural satellite of the Earth is the", "Moon"),
    ("The star at the centre of our solar system is the", "Sun"),
    ("Plants take in carbon dioxide and release", "oxygen"),
    ("The boiling point of water in degrees Celsius is", "100"),
    ("The chemical formula for water is", "H2O"),
    ("The center of an atom is called the", "nucleus"),
    ("The force that pulls objects toward the Earth is called", "gravity"),
    ("The process by which plants make food from sunlight is called", "photosynthesis"),
    ("The organ that pumps blood through the body is the", "heart"),
    ("The largest ocean on Earth is the", "Pacific"),
    ("The longest river in Africa is the", "Nile"),
    ("The tallest mountain in the world is Mount", "Everest"),
    ("The largest desert in Africa is the", "Sahara"),
    ("The Eiffel Tower is located in the city of", "Paris"),
    ("The Statue of Liberty is located in New", "York"),
    ("The Colosseum is located in the city of", "Rome"),
    ("The Olympic Games began in ancient", "Greece"),
    ("The Great Pyramid was built by the ancient", "Egyptians"),
    ("The Alps are a mountain range in", "Europe"),
    ("The Berlin Wall fell in", "1989"),
]
EVERYDAY = [
    ("A baby cat is called a", "kitten"), ("A baby cow is called a", "calf"), ("A group of wolves is called a", "pack"),
    ("The largest animal on Earth is the blue", "whale"), ("There are seven days in a", "week"),
    ("There are twelve months in a", "year"), ("There are sixty minutes in an", "hour"),
    ("There are twenty-four hours in a", "day"), ("A decade is a period of ten", "years"),
    ("The opposite of hot is", "cold"), ("The opposite of up is", "down"), ("The opposite of black is", "white"),
    ("The opposite of left is", "right"), ("The opposite of big is", "small"), ("The opposite of fast is", "slow"),
    ("The opposite of north is", "south"), ("The plural of mouse is", "mice"), ("A triangle has three", "sides"),
    ("The primary colours are red, yellow and", "blue"),
]

TEXTS = [
    "Rivers carry water from high ground to the sea. Over thousands of years they carve valleys and leave fertile "
    "soil on their banks, which is why many early farming villages grew up beside them.",
    "Bread is made from flour, water, salt and yeast. The yeast feeds on sugars in the dough and releases gas, "
    "which makes the loaf rise before it is baked.",
    "The printing press, developed in Europe in the fifteenth century, made books far cheaper to produce. Ideas "
    "spread faster than before, and reading slowly became common among ordinary people.",
    "A library lends books, newspapers and recordings to the public. Many libraries also offer quiet rooms for "
    "study, children's reading hours and free use of computers.",
    "Earthquakes happen when large plates of the Earth's crust slip past each other. The energy released travels "
    "as waves that can shake buildings far from the source.",
    "Honey bees live in colonies built around a single queen. Worker bees collect nectar and pollen, and in doing "
    "so they pollinate many of the crops that people eat.",
    "Volcanoes form where molten rock rises from deep inside the Earth. When pressure builds up, lava, ash and gas "
    "can burst out at the surface and change the landscape around them.",
    "Cotton is a soft fibre that grows around the seeds of the cotton plant. It is spun into thread and woven into "
    "cloth for shirts, towels and bed sheets.",
    "Trains run on steel rails and can carry many passengers or heavy goods at once. In the nineteenth century "
    "railways helped industry grow by moving coal and iron quickly across whole countries.",
    "Vaccines teach the immune system to recognise a germ without causing the illness. They have greatly reduced "
    "diseases such as measles and polio in many parts of the world.",
    "A desert receives very little rain each year. Plants that live there, such as cacti, store water in thick "
    "stems and spread wide roots to catch every shower.",
    "Music is organised sound that uses rhythm, melody and harmony. People in every culture sing, play instruments "
    "and dance together at festivals and family gatherings.",
    "Glaciers are huge masses of ice that move slowly downhill. As they flow, they scrape and grind the rock "
    "beneath them and carve deep valleys into mountain ranges.",
    "Coffee is brewed from the roasted seeds of the coffee plant. It contains caffeine, which is why many people "
    "drink a cup in the morning to feel more awake.",
    "Electric current is a flow of charge through a conductor such as a metal wire. Batteries and generators push "
    "the current around a circuit, where it can light lamps or turn motors.",
    "Forests cover about a third of the land on Earth. They provide timber, shelter countless animals and store "
    "large amounts of carbon in their trunks, roots and soil.",
    "A calendar divides time into days, weeks, months and years. Most countries today use the same calendar for "
    "business, with an extra day added to February every four years.",
    "Salt has been used for thousands of years to flavour and preserve food. In the past it was so valuable that "
    "it was carried over long trade routes and sometimes used as payment.",
    "Many birds migrate each year, flying thousands of kilometres between their summer and winter homes. They find "
    "their way using the Sun, the stars and landmarks such as coastlines.",
    "The human brain contains billions of nerve cells. They pass electrical and chemical signals to one another "
    "and control movement, memory, language and feeling.",
    "Wind turbines turn the energy of moving air into electricity. Large groups of them, called wind farms, are "
    "often built on open hills or out at sea where the wind is strong.",
    "Chess is a board game for two players, each starting with sixteen pieces. The aim is to trap the opposing "
    "king so that it has no safe square left.",
    "Rain forms when water vapour in clouds cools and condenses into tiny drops. When enough drops join together "
    "and become heavy, they fall to the ground.",
    "Maps show the positions of towns, roads and rivers on a flat surface. A scale tells the reader how distances "
    "on the map compare with distances on the ground.",
    "Cheese is made by curdling milk and pressing out the liquid whey. Aging the cheese for weeks or years gives "
    "it a stronger flavour and a firmer texture.",
    "Schools teach children to read, write and count, as well as history, science and art. In many countries "
    "schooling is free and required until the middle teenage years.",
    "Sharks are fish whose skeletons are made of cartilage rather than bone. Some kinds have lived in the oceans "
    "for hundreds of millions of years, long before the first dinosaurs.",
    "Paper is usually made from wood pulp that is pressed and dried into thin sheets. Recycling used paper saves "
    "trees, water and energy.",
    "Bridges carry roads and railways over rivers and valleys. Engineers design them to hold heavy loads and to "
    "stand up to strong winds and floods.",
    "Tea is made by pouring hot water over the dried leaves of the tea plant. It is one of the most widely drunk "
    "beverages in the world and is served in many different ways.",
    "Snowflakes are clusters of ice crystals that form in cold clouds. Fresh snow contains a lot of trapped air, "
    "which is why it feels light and soft underfoot.",
    "Markets are places where people buy and sell goods. Prices tend to rise when many buyers want something that "
    "is scarce and to fall when it is plentiful.",
    "The skeleton supports the body and protects soft organs such as the brain. An adult human has about two "
    "hundred bones, joined together by tough ligaments.",
    "Ships have carried people and goods across the seas for thousands of years. Today large container ships move "
    "most of the goods traded between countries.",
    "Clocks measure time in hours, minutes and seconds. Early clocks relied on flowing water or sand, and later "
    "designs used springs, weights and swinging pendulums.",
    "Frogs begin life as tadpoles that live in water and breathe through gills. As they grow they develop legs "
    "and lungs, and many species then spend time on land.",
    "Cities grow when people move from the countryside in search of work. A large city needs buses and trains, "
    "clean water, housing and schools for millions of residents.",
    "Soap cleans because its molecules cling both to water and to grease. When the hands are rinsed, the grease is "
    "carried away with the water.",
    "The English alphabet has twenty-six letters. It comes from the Latin alphabet, which was itself adapted from "
    "older Greek and Phoenician writing.",
    "Mountains rise where plates of the Earth's crust push against each other over millions of years. Wind, rain "
    "and ice slowly wear their peaks down again.",
    "Tides are the regular rise and fall of the sea along the coast. Most shores see two high tides and two low "
    "tides in a little more than a day.",
    "Rice is the main food for more than half of the people in the world. It is often grown in flooded fields "
    "called paddies, which keep weeds away from the young plants.",
    "A thermometer measures how hot or cold something is. Doctors use small thermometers to check for fever, "
    "while weather stations record the temperature of the air.",
    "Spiders spin silk to build webs that trap insects. The silk is light and stretchy, yet for its weight it is "
    "stronger than many kinds of steel.",
    "Bicycles are cheap to run and produce no exhaust, so many cities build special lanes for them. Riding a "
    "bicycle regularly is also good exercise for the heart and legs.",
    "Castles were built in the Middle Ages to defend land and the people living on it. Thick stone walls, towers "
    "and moats made them hard for attackers to enter.",
    "Coral reefs are built by tiny animals that form hard skeletons. Reefs provide food and shelter for a great "
    "variety of fish, and they protect coasts from strong waves.",
    "Newspapers report on local and world events, sport and the weather. Many are now read online as well as on "
    "printed pages.",
    "Lightning is a giant spark of electricity between clouds or between a cloud and the ground. The sudden heat "
    "makes the air expand quickly, which we hear as thunder.",
    "A compass needle is a small magnet that lines up with the Earth's magnetic field. Sailors and hikers have "
    "used compasses for centuries to find their direction.",
    "Potatoes grow underground as swollen parts of the plant's stem. They were first farmed in South America and "
    "later became a staple food in many other regions.",
    "Hospitals care for people who are ill or injured. Doctors, nurses and many other workers keep them running "
    "by day and by night.",
    "Caves often form when rainwater slowly dissolves limestone rock. Dripping water can leave behind stone "
    "icicles that hang from the ceiling and rise from the floor.",
    "The wheel is one of the oldest and most useful inventions. Carts, mills, clocks and countless machines depend "
    "on wheels of one kind or another.",
    "Owls hunt mostly at night. Their large eyes gather dim light, and soft feathers let them fly almost silently "
    "towards their prey.",
    "Recycling turns used glass, metal and plastic into new products. It reduces waste in landfills and saves some "
    "of the energy needed to make things from raw materials.",
    "Telescopes gather light from distant objects and make them appear larger and brighter. They allow "
    "astronomers to study stars and galaxies that are invisible to the naked eye.",
    "Farmers rotate crops from one field to another over the years. Changing what grows in a field helps keep the "
    "soil healthy and reduces pests.",
    "Swimming uses almost every muscle in the body. Learning to swim is also an important safety skill for anyone "
    "who lives near water.",
    "Kites have been flown for more than two thousand years. Besides being toys, they were once used to measure "
    "the weather and to lift signals into the sky.",
    "Wool is the soft hair that grows on sheep. It is sheared once a year, cleaned and spun into yarn for warm "
    "clothes and blankets.",
    "Post offices sort and deliver letters and parcels. Stamps show that the sender has paid for the delivery.",
    "Deserts can be cold as well as hot. Some of the driest places on Earth are covered in ice for the whole "
    "year.",
    "Ants live in large colonies and divide their work. Some gather food, some care for the young and some defend "
    "the nest.",
    "Museums collect and display objects of art, history and science. Visitors can see paintings, old tools and "
    "fossils that tell the story of the past.",
    "Chocolate is made from the seeds of the cacao tree. The seeds are fermented, dried, roasted and ground before "
    "sugar and milk are added.",
    "Elevators carry people between the floors of tall buildings. Safety brakes stop the car if a supporting cable "
    "ever fails.",
    "Fire needs fuel, heat and oxygen to keep burning. Firefighters put out fires by removing one of these, for "
    "example by cooling the fuel with water.",
    "Gardens can provide vegetables, herbs and flowers through much of the year. Compost made from kitchen scraps "
    "returns nutrients to the soil.",
    "Languages change slowly over time as new words are borrowed and old ones fall out of use. Speakers living far "
    "apart often develop different accents and dialects.",
    "Islands form in several ways: some are the tops of volcanoes, others are pieces of land cut off by rising "
    "seas. Many islands are home to plants and animals found nowhere else.",
    "Ice floats because water expands when it freezes, making the ice less dense than the liquid. This is why "
    "lakes freeze from the top down in winter.",
    "A healthy diet includes fruit, vegetables, grains and protein. Drinking enough water and sleeping well also "
    "help the body stay strong.",
    "Lighthouses warn ships of dangerous rocks and coastlines. Their bright lamps turn or flash in a pattern so "
    "that sailors can tell one lighthouse from another.",
    "Dogs were among the first animals kept by people. They have been bred for herding, guarding, hunting and "
    "simply for company.",
    "Computers store information as long strings of ones and zeros. Programs tell the computer, step by step, "
    "what to do with that information.",
    "Sand is made of tiny grains of rock and shell worn down by waves, wind and rivers. Melted at high "
    "temperature, sand can be turned into glass.",
    "Trees grow a new layer of wood each year, which shows up as a ring in the trunk. Counting the rings reveals "
    "roughly how old a tree is.",
    "Umbrellas were first used to give shade from the sun. Later, waterproof cloth made them useful for keeping "
    "people dry in the rain.",
    "Whales are mammals that live in the sea and breathe air through blowholes on top of their heads. Mothers "
    "feed their young with milk, just like land mammals.",
]


def _halves(rows: list[Example]) -> tuple[list[Example], list[Example]]:
    return rows[0::2], rows[1::2]


def _tables() -> list[list[Example]]:
    """Every fact table as examples; answers are one short entity after a single space."""
    return [
        [Example(f"The capital of {country} is", f" {city}") for country, city in CAPITALS],
        [Example(f"The chemical symbol of {element} is", f" {symbol}") for element, symbol in SYMBOLS],
        [Example(f"{book} was written by {first}", f" {surname}") for book, first, surname in AUTHORS],
        [Example(f"The currency of {country} is the", f" {name}") for country, name in CURRENCIES],
        [Example(f"The official language of {country} is", f" {language}") for country, language in LANGUAGES],
        [Example(prompt, f" {answer}") for prompt, answer in PEOPLE],
        [Example(prompt, f" {answer}") for prompt, answer in SCIENCE_AND_PLACES],
        [Example(prompt, f" {answer}") for prompt, answer in EVERYDAY],
    ]


def _interleave(tables: list[list[Example]]) -> tuple[Example, ...]:
    """Round-robin over the tables, so that any prefix (`--limit N`) mixes every kind of fact."""
    return tuple(row for group in zip_longest(*tables) for row in group if row is not None)


def _general(half: int) -> GeneralSet:
    facts = _interleave([_halves(table)[half] for table in _tables()])
    return GeneralSet(texts=tuple(_halves(list(TEXTS))[half]), facts=facts)


def preservation_set() -> GeneralSet:
    """Even rows of every table: given to every method that needs to know what to preserve."""
    return _general(0)


def probe_set() -> GeneralSet:
    """Odd rows of every table: held out, used only to measure general-capability degradation."""
    return _general(1)
