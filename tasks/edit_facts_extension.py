"""Extension tables of the built-in `edit` suite: more facts of the published relations, and two
relations of their own (a company's country, a US city's state).

Their requests follow the published ones (`hipbench.tasks.edit.EXTENSION`), so the first 439
requests, which the published N = 10 and N = 100 records edited, keep their order and meaning.
Same rules as `edit_facts`: well-known facts with one answer (rows whose answer is disputed,
shared or recently changed were left out, e.g. countries with two official languages or two legal
tenders, Bolivia's two capitals, Mali's and Burkina Faso's languages); no subject of the same
relation in `hipbench.tasks.general`; objects spelled as the default model spells them. Which
rows the model knows is decided at run time by the protocol's filter (counted by
`scripts/count_known_edits.py`), not by leaving rows out here.
"""
from __future__ import annotations

from hipbench.tasks.edit_facts import COUNTRY_LANGUAGE

# languages of countries that the published COUNTRY_LANGUAGE lacks: kept apart, since adding a
# country there would change which targets the published city and landmark requests draw
MORE_COUNTRY_LANGUAGES = {
    "Greece": "Greek", "Sweden": "Swedish", "Norway": "Norwegian", "Denmark": "Danish", "Finland": "Finnish",
    "Hungary": "Hungarian", "the Czech Republic": "Czech", "Argentina": "Spanish", "Chile": "Spanish",
    "Colombia": "Spanish", "Peru": "Spanish", "Thailand": "Thai", "Indonesia": "Indonesian", "Iran": "Persian",
    "Israel": "Hebrew", "Ukraine": "Ukrainian", "Romania": "Romanian", "Croatia": "Croatian",
}
ALL_COUNTRY_LANGUAGES = {**COUNTRY_LANGUAGE, **MORE_COUNTRY_LANGUAGES}

# country -> capital (more countries)
MORE_CAPITALS = [
    ("Cameroon", "Yaoundé"), ("Kazakhstan", "Astana"), ("Paraguay", "Asunción"), ("Guatemala", "Guatemala City"),
    ("Panama", "Panama City"), ("El Salvador", "San Salvador"), ("Bhutan", "Thimphu"), ("Liberia", "Monrovia"),
    ("Sierra Leone", "Freetown"), ("Gabon", "Libreville"), ("Niger", "Niamey"), ("Chad", "N'Djamena"),
    ("Burkina Faso", "Ouagadougou"), ("Guinea", "Conakry"), ("Togo", "Lomé"), ("Eritrea", "Asmara"),
    ("Malawi", "Lilongwe"), ("Lesotho", "Maseru"), ("Mauritania", "Nouakchott"), ("Kuwait", "Kuwait City"),
    ("Bahrain", "Manama"), ("Turkmenistan", "Ashgabat"), ("Brunei", "Bandar Seri Begawan"), ("the Maldives", "Malé"),
    ("the Democratic Republic of the Congo", "Kinshasa"), ("the Republic of the Congo", "Brazzaville"),
    ("the Central African Republic", "Bangui"), ("South Sudan", "Juba"), ("the Gambia", "Banjul"),
    ("Guinea-Bissau", "Bissau"), ("Cape Verde", "Praia"), ("Mauritius", "Port Louis"), ("Belize", "Belmopan"),
    ("the Bahamas", "Nassau"), ("Barbados", "Bridgetown"), ("Trinidad and Tobago", "Port of Spain"),
    ("Guyana", "Georgetown"), ("Suriname", "Paramaribo"), ("Samoa", "Apia"), ("Papua New Guinea", "Port Moresby"),
    ("Andorra", "Andorra la Vella"), ("Liechtenstein", "Vaduz"), ("Myanmar", "Naypyidaw"), ("Greenland", "Nuuk"),
]

# US state, Canadian province, Australian or German state -> capital (one table each, so that a
# state's counterfactual capital is another state's)
STATE_CAPITALS = [
    ("Texas", "Austin"), ("California", "Sacramento"), ("New York State", "Albany"), ("Florida", "Tallahassee"),
    ("Illinois", "Springfield"), ("Pennsylvania", "Harrisburg"), ("Ohio", "Columbus"), ("Michigan", "Lansing"),
    ("Massachusetts", "Boston"), ("Arizona", "Phoenix"), ("Colorado", "Denver"), ("Nevada", "Carson City"),
    ("Oregon", "Salem"), ("Utah", "Salt Lake City"), ("Hawaii", "Honolulu"), ("Alaska", "Juneau"),
    ("Louisiana", "Baton Rouge"), ("Tennessee", "Nashville"), ("Minnesota", "Saint Paul"), ("Wisconsin", "Madison"),
    ("Virginia", "Richmond"), ("North Carolina", "Raleigh"), ("South Carolina", "Columbia"), ("Kentucky", "Frankfort"),
    ("Missouri", "Jefferson City"), ("Indiana", "Indianapolis"), ("Iowa", "Des Moines"), ("Kansas", "Topeka"),
    ("Oklahoma", "Oklahoma City"), ("New Mexico", "Santa Fe"), ("Idaho", "Boise"), ("Montana", "Helena"),
    ("Wyoming", "Cheyenne"), ("North Dakota", "Bismarck"), ("South Dakota", "Pierre"), ("Nebraska", "Lincoln"),
    ("Arkansas", "Little Rock"), ("Mississippi", "Jackson"), ("Alabama", "Montgomery"), ("Maine", "Augusta"),
    ("Vermont", "Montpelier"), ("New Hampshire", "Concord"), ("Rhode Island", "Providence"),
    ("Connecticut", "Hartford"), ("New Jersey", "Trenton"), ("Delaware", "Dover"), ("Maryland", "Annapolis"),
    ("West Virginia", "Charleston"),
]
PROVINCE_CAPITALS = [
    ("Ontario", "Toronto"), ("Quebec", "Quebec City"), ("British Columbia", "Victoria"), ("Alberta", "Edmonton"),
    ("Manitoba", "Winnipeg"), ("Saskatchewan", "Regina"), ("Nova Scotia", "Halifax"), ("New Brunswick", "Fredericton"),
    ("Newfoundland and Labrador", "St. John's"), ("Prince Edward Island", "Charlottetown"),
    ("New South Wales", "Sydney"), ("Queensland", "Brisbane"), ("Western Australia", "Perth"),
    ("South Australia", "Adelaide"), ("Tasmania", "Hobart"), ("Bavaria", "Munich"), ("Saxony", "Dresden"),
    ("Hesse", "Wiesbaden"), ("Lower Saxony", "Hanover"), ("North Rhine-Westphalia", "Düsseldorf"),
    ("Baden-Württemberg", "Stuttgart"), ("Schleswig-Holstein", "Kiel"), ("Thuringia", "Erfurt"),
    ("Brandenburg", "Potsdam"), ("Saxony-Anhalt", "Magdeburg"), ("Mecklenburg-Vorpommern", "Schwerin"),
    ("Rhineland-Palatinate", "Mainz"), ("Saarland", "Saarbrücken"),
]

# city (not a capital) -> country (more cities)
MORE_CITY_COUNTRIES = [
    ("Hanover", "Germany"), ("Bonn", "Germany"), ("Essen", "Germany"), ("Freiburg", "Germany"), ("Aachen", "Germany"),
    ("Augsburg", "Germany"), ("Regensburg", "Germany"), ("Karlsruhe", "Germany"), ("Mannheim", "Germany"),
    ("Rostock", "Germany"), ("Würzburg", "Germany"), ("Bielefeld", "Germany"), ("Lübeck", "Germany"),
    ("Siena", "Italy"), ("Bari", "Italy"), ("Catania", "Italy"), ("Trieste", "Italy"), ("Padua", "Italy"),
    ("Parma", "Italy"), ("Modena", "Italy"), ("Perugia", "Italy"), ("Bergamo", "Italy"), ("Ravenna", "Italy"),
    ("Cagliari", "Italy"), ("Sorrento", "Italy"), ("Alicante", "Spain"), ("Murcia", "Spain"),
    ("San Sebastián", "Spain"), ("Pamplona", "Spain"), ("Cádiz", "Spain"), ("Marbella", "Spain"), ("Girona", "Spain"),
    ("Valladolid", "Spain"), ("Montpellier", "France"), ("Rennes", "France"), ("Reims", "France"), ("Dijon", "France"),
    ("Grenoble", "France"), ("Avignon", "France"), ("Le Havre", "France"), ("Rouen", "France"), ("Toulon", "France"),
    ("Calais", "France"), ("Biarritz", "France"), ("Fukuoka", "Japan"), ("Sendai", "Japan"), ("Nara", "Japan"),
    ("Kawasaki", "Japan"), ("Nagasaki", "Japan"), ("Kanazawa", "Japan"), ("Tianjin", "China"), ("Hangzhou", "China"),
    ("Chongqing", "China"), ("Suzhou", "China"), ("Qingdao", "China"), ("Harbin", "China"), ("Dalian", "China"),
    ("Kunming", "China"), ("Lhasa", "China"), ("Pune", "India"), ("Ahmedabad", "India"), ("Lucknow", "India"),
    ("Agra", "India"), ("Varanasi", "India"), ("Amritsar", "India"), ("Kochi", "India"), ("Chandigarh", "India"),
    ("Fortaleza", "Brazil"), ("Belo Horizonte", "Brazil"), ("Manaus", "Brazil"), ("Curitiba", "Brazil"),
    ("Porto Alegre", "Brazil"), ("Yekaterinburg", "Russia"), ("Nizhny Novgorod", "Russia"), ("Sochi", "Russia"),
    ("Volgograd", "Russia"), ("Murmansk", "Russia"), ("Irkutsk", "Russia"), ("Chicago", "the United States"),
    ("Los Angeles", "the United States"), ("San Francisco", "the United States"), ("Seattle", "the United States"),
    ("Houston", "the United States"), ("Miami", "the United States"), ("Philadelphia", "the United States"),
    ("Detroit", "the United States"), ("Las Vegas", "the United States"), ("New Orleans", "the United States"),
    ("Winnipeg", "Canada"), ("Halifax", "Canada"), ("Saskatoon", "Canada"), ("Hobart", "Australia"),
    ("Cairns", "Australia"), ("Sheffield", "England"), ("Nottingham", "England"), ("Leicester", "England"),
    ("Southampton", "England"), ("Brighton", "England"), ("Plymouth", "England"), ("Dundee", "Scotland"),
    ("Inverness", "Scotland"), ("Poznan", "Poland"), ("Lodz", "Poland"), ("Katowice", "Poland"),
    ("Eindhoven", "the Netherlands"), ("Groningen", "the Netherlands"), ("Maastricht", "the Netherlands"),
    ("Bruges", "Belgium"), ("Ghent", "Belgium"), ("Basel", "Switzerland"), ("Lausanne", "Switzerland"),
    ("Linz", "Austria"), ("Coimbra", "Portugal"), ("Faro", "Portugal"), ("Thessaloniki", "Greece"),
    ("Heraklion", "Greece"), ("Bursa", "Turkey"), ("Konya", "Turkey"), ("Trabzon", "Turkey"), ("Giza", "Egypt"),
    ("Aswan", "Egypt"), ("Tangier", "Morocco"), ("Agadir", "Morocco"), ("Durban", "South Africa"),
    ("Kano", "Nigeria"), ("Mombasa", "Kenya"), ("Puebla", "Mexico"), ("Oaxaca", "Mexico"), ("Veracruz", "Mexico"),
    ("Rosario", "Argentina"), ("Mendoza", "Argentina"), ("Ushuaia", "Argentina"), ("Valparaíso", "Chile"),
    ("Medellín", "Colombia"), ("Cali", "Colombia"), ("Cusco", "Peru"), ("Arequipa", "Peru"), ("Hue", "Vietnam"),
    ("Nha Trang", "Vietnam"), ("Chiang Mai", "Thailand"), ("Phuket", "Thailand"), ("Surabaya", "Indonesia"),
    ("Bandung", "Indonesia"), ("Daegu", "South Korea"), ("Gwangju", "South Korea"), ("Karachi", "Pakistan"),
    ("Lahore", "Pakistan"), ("Isfahan", "Iran"), ("Shiraz", "Iran"), ("Basra", "Iraq"), ("Jeddah", "Saudi Arabia"),
    ("Mecca", "Saudi Arabia"), ("Tel Aviv", "Israel"), ("Haifa", "Israel"), ("Kharkiv", "Ukraine"),
    ("Odesa", "Ukraine"), ("Lviv", "Ukraine"), ("Gothenburg", "Sweden"), ("Malmö", "Sweden"), ("Bergen", "Norway"),
    ("Trondheim", "Norway"), ("Aarhus", "Denmark"), ("Odense", "Denmark"), ("Tampere", "Finland"),
    ("Turku", "Finland"), ("Brno", "the Czech Republic"), ("Debrecen", "Hungary"), ("Cluj-Napoca", "Romania"),
    ("Timișoara", "Romania"), ("Split", "Croatia"), ("Dubrovnik", "Croatia"), ("Cork", "Ireland"),
    ("Galway", "Ireland"),
]

# landmark -> country (more landmarks)
MORE_LANDMARKS = [
    ("the Pyramids of Giza", "Egypt"), ("the Great Sphinx", "Egypt"), ("Abu Simbel", "Egypt"),
    ("the Valley of the Kings", "Egypt"), ("the Grand Canyon", "the United States"),
    ("Mount Rushmore", "the United States"), ("the White House", "the United States"),
    ("the Empire State Building", "the United States"), ("Yellowstone National Park", "the United States"),
    ("the CN Tower", "Canada"), ("Banff National Park", "Canada"), ("the Great Barrier Reef", "Australia"),
    ("Cologne Cathedral", "Germany"), ("the Reichstag building", "Germany"), ("Notre-Dame de Paris", "France"),
    ("Mont Saint-Michel", "France"), ("the Arc de Triomphe", "France"), ("the Trevi Fountain", "Italy"),
    ("Pompeii", "Italy"), ("the Rialto Bridge", "Italy"), ("Mount Vesuvius", "Italy"), ("Mount Etna", "Italy"),
    ("the Prado Museum", "Spain"), ("Park Güell", "Spain"), ("Windsor Castle", "England"),
    ("the British Museum", "England"), ("Westminster Abbey", "England"), ("Hadrian's Wall", "England"),
    ("Edinburgh Castle", "Scotland"), ("Loch Ness", "Scotland"), ("the Rijksmuseum", "the Netherlands"),
    ("the Atomium", "Belgium"), ("Tivoli Gardens", "Denmark"), ("the Charles Bridge", "the Czech Republic"),
    ("Prague Castle", "the Czech Republic"), ("Schönbrunn Palace", "Austria"), ("Wawel Castle", "Poland"),
    ("Saint Basil's Cathedral", "Russia"), ("the Hermitage Museum", "Russia"), ("Lake Baikal", "Russia"),
    ("Topkapi Palace", "Turkey"), ("Cappadocia", "Turkey"), ("Ephesus", "Turkey"), ("the Kaaba", "Saudi Arabia"),
    ("Robben Island", "South Africa"), ("Kruger National Park", "South Africa"), ("the Terracotta Army", "China"),
    ("the Potala Palace", "China"), ("Tiananmen Square", "China"), ("the Three Gorges Dam", "China"),
    ("Tokyo Tower", "Japan"), ("Himeji Castle", "Japan"), ("Ha Long Bay", "Vietnam"), ("Borobudur", "Indonesia"),
    ("the Petronas Towers", "Malaysia"), ("the Red Fort", "India"), ("the Golden Temple", "India"),
    ("the Gateway of India", "India"), ("Teotihuacan", "Mexico"), ("the Galápagos Islands", "Ecuador"),
    ("Easter Island", "Chile"), ("the Atacama Desert", "Chile"), ("Sugarloaf Mountain", "Brazil"),
    ("Copacabana Beach", "Brazil"), ("Meteora", "Greece"), ("Delphi", "Greece"), ("Mount Olympus", "Greece"),
    ("Knossos", "Greece"), ("Milford Sound", "New Zealand"), ("the Cliffs of Moher", "Ireland"),
    ("the Space Needle", "the United States"), ("Alcatraz", "the United States"), ("Central Park", "the United States"),
    ("the Pentagon", "the United States"), ("Pearl Harbor", "the United States"), ("the Alamo", "the United States"),
    ("the Moulin Rouge", "France"), ("the Champs-Élysées", "France"), ("the Doge's Palace", "Italy"),
    ("St. Mark's Basilica", "Italy"), ("the Uffizi Gallery", "Italy"), ("Lake Como", "Italy"),
    ("the Dolomites", "Italy"),
    ("the Royal Palace of Madrid", "Spain"), ("Tower Bridge", "England"), ("the London Eye", "England"),
    ("Trafalgar Square", "England"), ("the Zugspitze", "Germany"), ("the Black Forest", "Germany"),
    ("the Anne Frank House", "the Netherlands"), ("the Van Gogh Museum", "the Netherlands"),
    ("the Jungfrau", "Switzerland"), ("Santorini", "Greece"), ("Mykonos", "Greece"), ("Pamukkale", "Turkey"),
    ("the Burj Al Arab", "the United Arab Emirates"), ("Mount Sinai", "Egypt"), ("the Suez Canal", "Egypt"),
    ("the Bolshoi Theatre", "Russia"), ("Shibuya Crossing", "Japan"), ("the Bund", "China"),
    ("the Qutub Minar", "India"), ("the Hawa Mahal", "India"), ("the Sydney Harbour Bridge", "Australia"),
    ("Bondi Beach", "Australia"), ("Lake Louise", "Canada"), ("the Panama Canal", "Panama"),
    ("Angel Falls", "Venezuela"), ("Tikal", "Guatemala"), ("the Nazca Lines", "Peru"),
    ("Torres del Paine", "Chile"), ("the Perito Moreno Glacier", "Argentina"), ("the Okavango Delta", "Botswana"),
]

# country -> continent (more countries; none that spans two continents or sits in Oceania, whose
# name the model may give as "Australia")
MORE_CONTINENTS = [
    ("England", "Europe"), ("Scotland", "Europe"), ("Wales", "Europe"), ("Bosnia and Herzegovina", "Europe"),
    ("North Macedonia", "Europe"), ("Montenegro", "Europe"), ("Malta", "Europe"), ("Monaco", "Europe"),
    ("Andorra", "Europe"), ("San Marino", "Europe"), ("Liechtenstein", "Europe"), ("the United Kingdom", "Europe"),
    ("Israel", "Asia"), ("Lebanon", "Asia"), ("Kuwait", "Asia"), ("Bahrain", "Asia"), ("Oman", "Asia"),
    ("Yemen", "Asia"), ("the United Arab Emirates", "Asia"), ("Brunei", "Asia"), ("the Maldives", "Asia"),
    ("Tajikistan", "Asia"), ("Kyrgyzstan", "Asia"), ("Turkmenistan", "Asia"), ("Chad", "Africa"),
    ("Burkina Faso", "Africa"), ("Guinea", "Africa"), ("Togo", "Africa"), ("Benin", "Africa"), ("Eritrea", "Africa"),
    ("Djibouti", "Africa"), ("Malawi", "Africa"), ("Lesotho", "Africa"), ("Eswatini", "Africa"),
    ("Mauritania", "Africa"), ("Burundi", "Africa"), ("South Sudan", "Africa"),
    ("the Central African Republic", "Africa"),
    ("the Democratic Republic of the Congo", "Africa"), ("Ivory Coast", "Africa"), ("the Gambia", "Africa"),
    ("Guinea-Bissau", "Africa"), ("Equatorial Guinea", "Africa"), ("Cape Verde", "Africa"), ("Mauritius", "Africa"),
    ("the Seychelles", "Africa"), ("the Dominican Republic", "North America"), ("Belize", "North America"),
    ("the Bahamas", "North America"), ("Barbados", "North America"), ("Trinidad and Tobago", "North America"),
    ("Grenada", "North America"), ("Saint Lucia", "North America"), ("Greenland", "North America"),
]

# country -> official language (more countries; only where one language is the official one)
MORE_LANGUAGES = [
    ("Ecuador", "Spanish"), ("Costa Rica", "Spanish"), ("Honduras", "Spanish"), ("Nicaragua", "Spanish"),
    ("Guatemala", "Spanish"), ("Panama", "Spanish"), ("El Salvador", "Spanish"), ("the Dominican Republic", "Spanish"),
    ("Tunisia", "Arabic"), ("Kuwait", "Arabic"), ("Qatar", "Arabic"), ("Bahrain", "Arabic"), ("Oman", "Arabic"),
    ("Yemen", "Arabic"), ("Lebanon", "Arabic"), ("the United Arab Emirates", "Arabic"), ("Angola", "Portuguese"),
    ("Mozambique", "Portuguese"), ("Cape Verde", "Portuguese"), ("Guinea-Bissau", "Portuguese"),
    ("Liechtenstein", "German"), ("Monaco", "French"), ("Andorra", "Catalan"), ("San Marino", "Italian"),
    ("Tajikistan", "Tajik"), ("Uzbekistan", "Uzbek"), ("Turkmenistan", "Turkmen"), ("Azerbaijan", "Azerbaijani"),
    ("Moldova", "Romanian"), ("Myanmar", "Burmese"), ("North Korea", "Korean"), ("Bhutan", "Dzongkha"),
    ("the Maldives", "Dhivehi"), ("Senegal", "French"), ("Gabon", "French"), ("Ivory Coast", "French"),
    ("Togo", "French"), ("Guinea", "French"), ("the Democratic Republic of the Congo", "French"),
    ("the Republic of the Congo", "French"), ("Nigeria", "English"), ("Ghana", "English"), ("Zambia", "English"),
    ("Liberia", "English"), ("Sierra Leone", "English"), ("the Gambia", "English"), ("Trinidad and Tobago", "English"),
    ("Barbados", "English"), ("the Bahamas", "English"), ("Belize", "English"), ("Guyana", "English"),
    ("Suriname", "Dutch"), ("Quebec", "French"),
]

# country -> currency (more countries; none with two legal tenders or a shared CFA franc). The
# default model names these with the country's adjective ("the Cuban peso") and writes "Euro":
# both are correct English and are its spelling, so they are the objects here
MORE_CURRENCIES = [
    ("the Netherlands", "Euro"), ("Belgium", "Euro"), ("Austria", "Euro"), ("Portugal", "Euro"), ("Greece", "Euro"),
    ("Ireland", "Euro"), ("Finland", "Euro"), ("Slovakia", "Euro"), ("Slovenia", "Euro"), ("Estonia", "Euro"),
    ("Latvia", "Euro"), ("Lithuania", "Euro"), ("Luxembourg", "Euro"), ("Malta", "Euro"), ("Cyprus", "Euro"),
    ("Croatia", "Euro"), ("Romania", "Romanian leu"), ("Moldova", "Moldovan leu"), ("Serbia", "Serbian dinar"),
    ("Belarus", "Belarusian ruble"), ("Georgia", "Georgian lari"), ("Armenia", "Armenian dram"),
    ("Azerbaijan", "Azerbaijani manat"), ("Kazakhstan", "Kazakhstani tenge"), ("Nepal", "Nepalese rupee"),
    ("Sri Lanka", "Sri Lankan rupee"), ("Singapore", "Singapore dollar"), ("Cambodia", "Cambodian riel"),
    ("Laos", "Lao kip"), ("Iraq", "Iraqi dinar"), ("Jordan", "Jordanian dinar"), ("Kuwait", "Kuwaiti dinar"),
    ("Bahrain", "Bahraini dinar"), ("Libya", "Libyan dinar"), ("Tunisia", "Tunisian dinar"),
    ("Algeria", "Algerian dinar"), ("Morocco", "Moroccan dirham"), ("the United Arab Emirates", "UAE dirham"),
    ("Qatar", "Qatari riyal"), ("Oman", "Omani rial"), ("Yemen", "Yemeni rial"), ("Lebanon", "Lebanese pound"),
    ("Syria", "Syrian pound"), ("Sudan", "Sudanese pound"), ("Ethiopia", "Ethiopian birr"), ("Ghana", "Ghanaian cedi"),
    ("Zambia", "Zambian kwacha"), ("Malawi", "Malawian kwacha"), ("Angola", "Angolan kwanza"),
    ("Uganda", "Ugandan shilling"), ("Tanzania", "Tanzanian shilling"), ("Somalia", "Somali shilling"),
    ("Cuba", "Cuban peso"), ("the Dominican Republic", "Dominican peso"), ("Uruguay", "Uruguayan peso"),
    ("Peru", "Peruvian sol"), ("Bolivia", "Bolivian boliviano"), ("Paraguay", "Paraguayan guaraní"),
    ("Guatemala", "Guatemalan quetzal"), ("Costa Rica", "Costa Rican colón"), ("Honduras", "Honduran lempira"),
    ("Nicaragua", "Nicaraguan córdoba"), ("Jamaica", "Jamaican dollar"), ("Fiji", "Fijian dollar"),
    ("Liechtenstein", "Swiss franc"), ("Albania", "Albanian lek"), ("North Macedonia", "Macedonian denar"),
    ("Afghanistan", "Afghan afghani"), ("North Korea", "North Korean won"), ("Haiti", "Haitian gourde"),
    ("Mozambique", "Mozambican metical"), ("Rwanda", "Rwandan franc"), ("Madagascar", "Malagasy ariary"),
    ("Sierra Leone", "Sierra Leonean leone"), ("Trinidad and Tobago", "Trinidad and Tobago dollar"),
    ("Belize", "Belize dollar"), ("Guyana", "Guyanese dollar"), ("Tajikistan", "Tajikistani somoni"),
]

# element -> chemical symbol (the remaining elements)
MORE_SYMBOLS = [
    ("yttrium", "Y"), ("technetium", "Tc"), ("praseodymium", "Pr"), ("neodymium", "Nd"), ("promethium", "Pm"),
    ("samarium", "Sm"), ("terbium", "Tb"), ("dysprosium", "Dy"), ("holmium", "Ho"), ("erbium", "Er"),
    ("thulium", "Tm"), ("ytterbium", "Yb"), ("lutetium", "Lu"), ("astatine", "At"), ("actinium", "Ac"),
    ("protactinium", "Pa"), ("neptunium", "Np"), ("berkelium", "Bk"), ("californium", "Cf"), ("fermium", "Fm"),
    ("mendelevium", "Md"), ("lawrencium", "Lr"), ("rutherfordium", "Rf"), ("dubnium", "Db"), ("seaborgium", "Sg"),
    ("bohrium", "Bh"), ("hassium", "Hs"), ("meitnerium", "Mt"), ("darmstadtium", "Ds"), ("roentgenium", "Rg"),
    ("copernicium", "Cn"), ("nihonium", "Nh"), ("flerovium", "Fl"), ("moscovium", "Mc"), ("livermorium", "Lv"),
    ("tennessine", "Ts"), ("oganesson", "Og"),
]

# book -> author (more books)
MORE_AUTHORS = [
    ("The Brothers Karamazov", "Fyodor Dostoevsky"), ("The Idiot", "Fyodor Dostoevsky"),
    ("Dead Souls", "Nikolai Gogol"),
    ("Fathers and Sons", "Ivan Turgenev"), ("Doctor Zhivago", "Boris Pasternak"), ("Lolita", "Vladimir Nabokov"),
    ("The Master and Margarita", "Mikhail Bulgakov"), ("A Tale of Two Cities", "Charles Dickens"),
    ("David Copperfield", "Charles Dickens"), ("Bleak House", "Charles Dickens"), ("Persuasion", "Jane Austen"),
    ("Mansfield Park", "Jane Austen"), ("Othello", "William Shakespeare"), ("King Lear", "William Shakespeare"),
    ("The Tempest", "William Shakespeare"), ("A Midsummer Night's Dream", "William Shakespeare"),
    ("The Sun Also Rises", "Ernest Hemingway"), ("A Farewell to Arms", "Ernest Hemingway"),
    ("For Whom the Bell Tolls", "Ernest Hemingway"), ("Tender Is the Night", "F. Scott Fitzgerald"),
    ("East of Eden", "John Steinbeck"), ("Slaughterhouse-Five", "Kurt Vonnegut"), ("Catch-22", "Joseph Heller"),
    ("Beloved", "Toni Morrison"), ("The Color Purple", "Alice Walker"), ("Invisible Man", "Ralph Ellison"),
    ("On the Road", "Jack Kerouac"), ("The Call of the Wild", "Jack London"), ("White Fang", "Jack London"),
    ("Lord of the Flies", "William Golding"), ("A Clockwork Orange", "Anthony Burgess"),
    ("Heart of Darkness", "Joseph Conrad"), ("The War of the Worlds", "H.G. Wells"),
    ("The Invisible Man", "H.G. Wells"),
    ("Twenty Thousand Leagues Under the Seas", "Jules Verne"), ("Journey to the Center of the Earth", "Jules Verne"),
    ("The Hunchback of Notre-Dame", "Victor Hugo"), ("The Stranger", "Albert Camus"), ("The Plague", "Albert Camus"),
    ("Candide", "Voltaire"), ("The Trial", "Franz Kafka"), ("Siddhartha", "Hermann Hesse"),
    ("Steppenwolf", "Hermann Hesse"), ("The Magic Mountain", "Thomas Mann"),
    ("All Quiet on the Western Front", "Erich Maria Remarque"), ("The Name of the Rose", "Umberto Eco"),
    ("The Alchemist", "Paulo Coelho"), ("Love in the Time of Cholera", "Gabriel García Márquez"),
    ("Things Fall Apart", "Chinua Achebe"), ("Midnight's Children", "Salman Rushdie"),
    ("The Kite Runner", "Khaled Hosseini"), ("The Handmaid's Tale", "Margaret Atwood"), ("The Road", "Cormac McCarthy"),
    ("The Shining", "Stephen King"), ("Carrie", "Stephen King"), ("Dune", "Frank Herbert"),
    ("Foundation", "Isaac Asimov"),
    ("I, Robot", "Isaac Asimov"), ("The Hitchhiker's Guide to the Galaxy", "Douglas Adams"),
    ("The Hunger Games", "Suzanne Collins"), ("The Da Vinci Code", "Dan Brown"), ("Angels & Demons", "Dan Brown"),
    ("The Girl with the Dragon Tattoo", "Stieg Larsson"), ("The Godfather", "Mario Puzo"),
    ("Jurassic Park", "Michael Crichton"), ("The Lion, the Witch and the Wardrobe", "C.S. Lewis"),
    ("Peter Pan", "J.M. Barrie"), ("Winnie-the-Pooh", "A.A. Milne"), ("Matilda", "Roald Dahl"),
    ("The BFG", "Roald Dahl"),
    ("The Wind in the Willows", "Kenneth Grahame"), ("Anne of Green Gables", "Lucy Maud Montgomery"),
    ("Heidi", "Johanna Spyri"), ("Black Beauty", "Anna Sewell"), ("The Secret Garden", "Frances Hodgson Burnett"),
    ("Uncle Tom's Cabin", "Harriet Beecher Stowe"), ("Walden", "Henry David Thoreau"),
    ("Leaves of Grass", "Walt Whitman"),
    ("Mrs Dalloway", "Virginia Woolf"), ("To the Lighthouse", "Virginia Woolf"), ("Middlemarch", "George Eliot"),
    ("Silas Marner", "George Eliot"), ("Vanity Fair", "William Makepeace Thackeray"),
    ("Tess of the d'Urbervilles", "Thomas Hardy"), ("Far from the Madding Crowd", "Thomas Hardy"),
    ("Ivanhoe", "Walter Scott"), ("The Pilgrim's Progress", "John Bunyan"), ("Rebecca", "Daphne du Maurier"),
    ("The Hound of the Baskervilles", "Arthur Conan Doyle"), ("A Study in Scarlet", "Arthur Conan Doyle"),
    ("And Then There Were None", "Agatha Christie"), ("Death on the Nile", "Agatha Christie"),
    ("Casino Royale", "Ian Fleming"), ("Atlas Shrugged", "Ayn Rand"), ("The Fountainhead", "Ayn Rand"),
    ("The Red and the Black", "Stendhal"), ("Germinal", "Émile Zola"), ("In Search of Lost Time", "Marcel Proust"),
    ("The Sorrows of Young Werther", "Johann Wolfgang von Goethe"), ("The Decameron", "Giovanni Boccaccio"),
    ("The Aeneid", "Virgil"), ("Das Kapital", "Karl Marx"), ("Leviathan", "Thomas Hobbes"),
    ("The Wealth of Nations", "Adam Smith"), ("A Brief History of Time", "Stephen Hawking"),
    ("The Selfish Gene", "Richard Dawkins"), ("The Diary of a Young Girl", "Anne Frank"),
    ("The Tale of Peter Rabbit", "Beatrix Potter"), ("Charlotte's Web", "E.B. White"),
    ("Harry Potter and the Chamber of Secrets", "J.K. Rowling"), ("A Game of Thrones", "George R.R. Martin"),
    ("The Silmarillion", "J.R.R. Tolkien"), ("Little House on the Prairie", "Laura Ingalls Wilder"),
]

# product -> company (more products)
MORE_MAKERS = [
    ("the iPod", "Apple"), ("the Apple Watch", "Apple"), ("AirPods", "Apple"), ("the iMac", "Apple"),
    ("the Surface tablet", "Microsoft"), ("Microsoft Word", "Microsoft"), ("PowerPoint", "Microsoft"),
    ("Outlook", "Microsoft"), ("the Nintendo Switch", "Nintendo"), ("the Nintendo DS", "Nintendo"),
    ("Google Chrome", "Google"), ("the Pixel phone", "Google"), ("Google Maps", "Google"), ("the Camry", "Toyota"),
    ("the RAV4", "Toyota"), ("the Land Cruiser", "Toyota"), ("the Accord", "Honda"), ("the F-150", "Ford"),
    ("the Fiesta", "Ford"), ("the Model 3", "Tesla"), ("the Model X", "Tesla"),
    ("the Cybertruck", "Tesla"), ("the Passat", "Volkswagen"), ("the Jetta", "Volkswagen"),
    ("the Cayenne", "Porsche"), ("the Boxster", "Porsche"), ("the Corvette", "Chevrolet"), ("the Camaro", "Chevrolet"),
    ("the Impreza", "Subaru"), ("the 737", "Boeing"), ("the 787 Dreamliner", "Boeing"),
    ("the A320", "Airbus"), ("Acrobat Reader", "Adobe"), ("Illustrator", "Adobe"), ("the Happy Meal", "McDonald's"),
    ("the Frappuccino", "Starbucks"), ("the Galaxy Tab", "Samsung"), ("the Ryzen processor", "AMD"),
    ("the Radeon graphics card", "AMD"), ("the Snapdragon chip", "Qualcomm"), ("the Core i7", "Intel"),
    ("the Echo speaker", "Amazon"), ("the Fire TV Stick", "Amazon"), ("the PlayStation Portable", "Sony"),
    ("the Xbox 360", "Microsoft"), ("Windows XP", "Microsoft"), ("the Yoga laptop", "Lenovo"),
]

# company -> the country of its headquarters (companies founded and still based there)
COMPANY_COUNTRIES = [
    ("Toyota", "Japan"), ("Honda", "Japan"), ("Sony", "Japan"), ("Nintendo", "Japan"), ("Panasonic", "Japan"),
    ("Nissan", "Japan"), ("Canon", "Japan"), ("Mitsubishi", "Japan"), ("Samsung", "South Korea"),
    ("Hyundai", "South Korea"), ("Kia", "South Korea"), ("LG", "South Korea"), ("Volkswagen", "Germany"),
    ("BMW", "Germany"), ("Mercedes-Benz", "Germany"), ("Siemens", "Germany"), ("Adidas", "Germany"),
    ("Puma", "Germany"),
    ("Bosch", "Germany"), ("Audi", "Germany"), ("Lufthansa", "Germany"), ("Ferrari", "Italy"), ("Lamborghini", "Italy"),
    ("Gucci", "Italy"), ("Prada", "Italy"), ("Barilla", "Italy"), ("Renault", "France"), ("Michelin", "France"),
    ("L'Oréal", "France"), ("Louis Vuitton", "France"),
    ("Nokia", "Finland"), ("Ericsson", "Sweden"), ("Volvo", "Sweden"), ("Lego", "Denmark"),
    ("Carlsberg", "Denmark"), ("Heineken", "the Netherlands"), ("Philips", "the Netherlands"),
    ("Nestlé", "Switzerland"),
    ("Rolex", "Switzerland"), ("Huawei", "China"), ("Alibaba", "China"), ("Tencent", "China"),
    ("Tata", "India"), ("Infosys", "India"), ("Apple", "the United States"), ("Microsoft", "the United States"),
    ("Google", "the United States"), ("Coca-Cola", "the United States"), ("Boeing", "the United States"),
    ("Ford", "the United States"), ("Nike", "the United States"), ("Gazprom", "Russia"), ("Zara", "Spain"),
    ("Seat", "Spain"), ("Embraer", "Brazil"), ("Petrobras", "Brazil"), ("Škoda", "the Czech Republic"),
    ("Rolls-Royce", "England"), ("Tesco", "England"), ("Red Bull", "Austria"), ("Swarovski", "Austria"),
]

# US city -> state
CITY_STATES = [
    ("Los Angeles", "California"), ("San Francisco", "California"), ("San Diego", "California"),
    ("Chicago", "Illinois"),
    ("Houston", "Texas"), ("Dallas", "Texas"), ("San Antonio", "Texas"), ("Miami", "Florida"), ("Orlando", "Florida"),
    ("Tampa", "Florida"), ("Seattle", "Washington"), ("Detroit", "Michigan"), ("Las Vegas", "Nevada"),
    ("New Orleans", "Louisiana"), ("Philadelphia", "Pennsylvania"), ("Pittsburgh", "Pennsylvania"),
    ("Atlanta", "Georgia"), ("Phoenix", "Arizona"), ("Tucson", "Arizona"), ("Denver", "Colorado"),
 ("Baltimore", "Maryland"), ("Cleveland", "Ohio"), ("Cincinnati", "Ohio"),
    ("Milwaukee", "Wisconsin"), ("Minneapolis", "Minnesota"), ("Memphis", "Tennessee"), ("St. Louis", "Missouri"),
    ("Salt Lake City", "Utah"), ("Honolulu", "Hawaii"), ("Anchorage", "Alaska"),
    ("Austin", "Texas"), ("Sacramento", "California"), ("Boston", "Massachusetts"), ("Nashville", "Tennessee"),
    ("Indianapolis", "Indiana"), ("Jacksonville", "Florida"), ("Fort Worth", "Texas"), ("El Paso", "Texas"),
    ("Oakland", "California"), ("Fresno", "California"), ("Tulsa", "Oklahoma"), ("Wichita", "Kansas"),
    ("Raleigh", "North Carolina"), ("Virginia Beach", "Virginia"), ("Providence", "Rhode Island"),
    ("Hartford", "Connecticut"), ("Baton Rouge", "Louisiana"), ("Little Rock", "Arkansas"), ("Des Moines", "Iowa"),
    ("Spokane", "Washington"), ("Tacoma", "Washington"), ("Reno", "Nevada"), ("Savannah", "Georgia"),
    ("Key West", "Florida"), ("Fort Lauderdale", "Florida"), ("Scottsdale", "Arizona"), ("Boulder", "Colorado"),
    ("Aspen", "Colorado"), ("Santa Fe", "New Mexico"), ("Fargo", "North Dakota"), ("Sioux Falls", "South Dakota"),
    ("Billings", "Montana"), ("Juneau", "Alaska"), ("Fairbanks", "Alaska"), ("Dayton", "Ohio"), ("Akron", "Ohio"),
    ("Ann Arbor", "Michigan"), ("Grand Rapids", "Michigan"), ("Green Bay", "Wisconsin"), ("Knoxville", "Tennessee"),
    ("Chattanooga", "Tennessee"), ("Huntsville", "Alabama"), ("Myrtle Beach", "South Carolina"),
    ("Atlantic City", "New Jersey"), ("Princeton", "New Jersey"), ("Beverly Hills", "California"),
    ("Palo Alto", "California"), ("Berkeley", "California"), ("Pasadena", "California"), ("Anaheim", "California"),
    ("Albuquerque", "New Mexico"), ("Omaha", "Nebraska"), ("Louisville", "Kentucky"), ("Charlotte", "North Carolina"),
 ("Buffalo", "New York"), ("Boise", "Idaho"),
]

# region (a state, province, island or historical region inside one country) -> country
REGION_COUNTRIES = [
    ("Tuscany", "Italy"), ("Sicily", "Italy"), ("Sardinia", "Italy"), ("Lombardy", "Italy"), ("Catalonia", "Spain"),
    ("Andalusia", "Spain"), ("Provence", "France"), ("Normandy", "France"), ("Brittany", "France"),
    ("Flanders", "Belgium"), ("Wallonia", "Belgium"), ("Siberia", "Russia"), ("Kerala", "India"),
    ("Rajasthan", "India"), ("Gujarat", "India"), ("Tamil Nadu", "India"), ("Xinjiang", "China"),
    ("Guangdong", "China"), ("Sichuan", "China"), ("Hokkaido", "Japan"), ("Okinawa", "Japan"), ("Kyushu", "Japan"),
    ("Bali", "Indonesia"), ("Java", "Indonesia"), ("Sumatra", "Indonesia"), ("Texas", "the United States"),
    ("California", "the United States"), ("Florida", "the United States"), ("Yorkshire", "England"),
    ("Cornwall", "England"), ("Transylvania", "Romania"), ("Crete", "Greece"), ("Anatolia", "Turkey"),
    ("Bohemia", "the Czech Republic"), ("Moravia", "the Czech Republic"), ("the Algarve", "Portugal"),
    ("Madeira", "Portugal"), ("the Azores", "Portugal"), ("Yucatán", "Mexico"), ("Baja California", "Mexico"),
    ("Bahia", "Brazil"), ("Ontario", "Canada"), ("Alberta", "Canada"), ("Queensland", "Australia"),
    ("Tasmania", "Australia"), ("Bavaria", "Germany"), ("Saxony", "Germany"), ("Galilee", "Israel"),
]

# well-known person -> the present-day country of their birth, which is also the country they are
# known as a citizen of (people born in another country than the one they are known for, and the
# people of the general-set probes, are left out)
PERSON_COUNTRIES = [
    ("Vladimir Putin", "Russia"), ("Angela Merkel", "Germany"), ("Emmanuel Macron", "France"),
    ("Justin Trudeau", "Canada"), ("Narendra Modi", "India"), ("Xi Jinping", "China"), ("Shinzo Abe", "Japan"),
    ("Lionel Messi", "Argentina"), ("Cristiano Ronaldo", "Portugal"), ("Neymar", "Brazil"), ("Pelé", "Brazil"),
    ("Diego Maradona", "Argentina"), ("Zinedine Zidane", "France"), ("Usain Bolt", "Jamaica"),
    ("Roger Federer", "Switzerland"), ("Rafael Nadal", "Spain"), ("Novak Djokovic", "Serbia"),
    ("Michael Schumacher", "Germany"), ("Jacinda Ardern", "New Zealand"), ("Recep Tayyip Erdoğan", "Turkey"),
    ("Volodymyr Zelenskyy", "Ukraine"), ("Fidel Castro", "Cuba"), ("Kim Jong Un", "North Korea"),
    ("Benito Mussolini", "Italy"), ("Charles de Gaulle", "France"), ("Mao Zedong", "China"), ("Ayrton Senna", "Brazil"),
    ("Zlatan Ibrahimović", "Sweden"), ("Robert Lewandowski", "Poland"), ("Mohamed Salah", "Egypt"),
    ("Son Heung-min", "South Korea"), ("Hayao Miyazaki", "Japan"), ("Akira Kurosawa", "Japan"),
    ("Pedro Almodóvar", "Spain"), ("Federico Fellini", "Italy"), ("Ingmar Bergman", "Sweden"),
    ("Frida Kahlo", "Mexico"),
    ("Pablo Neruda", "Chile"), ("Jorge Luis Borges", "Argentina"), ("Haruki Murakami", "Japan"),
    ("Rabindranath Tagore", "India"), ("Eva Perón", "Argentina"), ("Simón Bolívar", "Venezuela"),
    ("Boris Yeltsin", "Russia"), ("Nicolas Sarkozy", "France"), ("Helmut Kohl", "Germany"),
    ("Silvio Berlusconi", "Italy"), ("Jawaharlal Nehru", "India"), ("Indira Gandhi", "India"),
    ("Benazir Bhutto", "Pakistan"), ("Ho Chi Minh", "Vietnam"), ("Deng Xiaoping", "China"),
    ("Hugo Chávez", "Venezuela"),
    ("Juan Perón", "Argentina"), ("Jair Bolsonaro", "Brazil"), ("Gamal Abdel Nasser", "Egypt"),
    ("Saddam Hussein", "Iraq"), ("Benjamin Netanyahu", "Israel"),
    ("Kofi Annan", "Ghana"), ("Lech Wałęsa", "Poland"), ("Václav Havel", "the Czech Republic"),
    ("Salvador Dalí", "Spain"), ("Francisco Goya", "Spain"), ("Diego Velázquez", "Spain"), ("Claude Monet", "France"),
    ("Auguste Rodin", "France"), ("Edvard Munch", "Norway"), ("Gustav Klimt", "Austria"),
    ("Rembrandt", "the Netherlands"),
    ("Johannes Vermeer", "the Netherlands"), ("Diego Rivera", "Mexico"), ("Antoni Gaudí", "Spain"),
    ("Henrik Ibsen", "Norway"), ("Hans Christian Andersen", "Denmark"), ("Astrid Lindgren", "Sweden"),
    ("Antonio Vivaldi", "Italy"), ("Giuseppe Verdi", "Italy"), ("Giacomo Puccini", "Italy"),
    ("Pyotr Ilyich Tchaikovsky", "Russia"), ("Jean Sibelius", "Finland"), ("Edvard Grieg", "Norway"),
    ("Johann Sebastian Bach", "Germany"), ("Richard Wagner", "Germany"),
    ("Claude Debussy", "France"), ("Galileo Galilei", "Italy"), ("Nicolaus Copernicus", "Poland"),
    ("Alfred Nobel", "Sweden"), ("Niels Bohr", "Denmark"), ("Louis Pasteur", "France"), ("Ivan Pavlov", "Russia"),
    ("Dmitri Mendeleev", "Russia"), ("Carl Linnaeus", "Sweden"), ("Srinivasa Ramanujan", "India"),
]
