"""Fact tables behind the built-in `edit` suite: well-known (subject, object) pairs per relation.

Plain data, no randomness. Every relation lists subjects that are *not* the subject of the same
relation in `hipbench.tasks.general` (whose facts are the general-capability probes and the
preservation set): editing one of those would show up as lost "general knowledge" and blur two
metrics into one. `tests/test_edit_suite.py` checks the disjointness.

Objects are written as the default model spells them where spellings differ (it was checked
with SmolLM2-135M-Instruct, Q4_1, float32, CPU); which rows it actually knows is decided at run
time by the edit protocol's base-knowledge filter, not here.
"""
from __future__ import annotations

# country -> capital
CAPITALS = [
    ("Poland", "Warsaw"), ("Belgium", "Brussels"), ("Finland", "Helsinki"), ("Egypt", "Cairo"),
    ("Turkey", "Ankara"), ("Iran", "Tehran"), ("Iraq", "Baghdad"), ("Saudi Arabia", "Riyadh"),
    ("India", "New Delhi"), ("Australia", "Canberra"), ("Argentina", "Buenos Aires"), ("Brazil", "Brasília"),
    ("Peru", "Lima"), ("Colombia", "Bogotá"), ("Venezuela", "Caracas"), ("Nigeria", "Abuja"),
    ("Ghana", "Accra"), ("Morocco", "Rabat"), ("Ukraine", "Kyiv"), ("Belarus", "Minsk"),
    ("Serbia", "Belgrade"), ("Croatia", "Zagreb"), ("Slovakia", "Bratislava"), ("Lithuania", "Vilnius"),
    ("Latvia", "Riga"), ("Estonia", "Tallinn"), ("Malaysia", "Kuala Lumpur"), ("Nepal", "Kathmandu"),
    ("Bangladesh", "Dhaka"), ("Qatar", "Doha"), ("Lebanon", "Beirut"), ("Jordan", "Amman"),
    ("Libya", "Tripoli"), ("Tunisia", "Tunis"), ("Algeria", "Algiers"), ("Sudan", "Khartoum"),
    ("Uganda", "Kampala"), ("Zimbabwe", "Harare"), ("Senegal", "Dakar"), ("Uruguay", "Montevideo"),
    ("Ecuador", "Quito"), ("Jamaica", "Kingston"), ("Mongolia", "Ulaanbaatar"), ("North Korea", "Pyongyang"),
    ("Taiwan", "Taipei"), ("New Zealand", "Wellington"), ("Albania", "Tirana"), ("Slovenia", "Ljubljana"),
    ("Cyprus", "Nicosia"), ("Malta", "Valletta"), ("Armenia", "Yerevan"), ("Georgia", "Tbilisi"),
    ("Azerbaijan", "Baku"), ("Uzbekistan", "Tashkent"), ("Cambodia", "Phnom Penh"), ("Laos", "Vientiane"),
    ("Wales", "Cardiff"), ("Northern Ireland", "Belfast"), ("England", "London"), ("Switzerland", "Bern"),
    ("Costa Rica", "San José"), ("Nicaragua", "Managua"), ("Honduras", "Tegucigalpa"),
    ("the Dominican Republic", "Santo Domingo"), ("Haiti", "Port-au-Prince"), ("Angola", "Luanda"),
    ("Mozambique", "Maputo"), ("Zambia", "Lusaka"), ("Namibia", "Windhoek"), ("Botswana", "Gaborone"),
    ("Madagascar", "Antananarivo"), ("Rwanda", "Kigali"), ("Somalia", "Mogadishu"), ("Mali", "Bamako"),
    ("Oman", "Muscat"), ("Yemen", "Sanaa"), ("the United Arab Emirates", "Abu Dhabi"), ("Kyrgyzstan", "Bishkek"),
    ("Tajikistan", "Dushanbe"), ("Moldova", "Chisinau"), ("Bosnia and Herzegovina", "Sarajevo"),
    ("North Macedonia", "Skopje"), ("Montenegro", "Podgorica"), ("Fiji", "Suva"),
]

# city (not a capital) -> country
CITY_COUNTRIES = [
    ("Barcelona", "Spain"), ("Seville", "Spain"), ("Munich", "Germany"), ("Hamburg", "Germany"),
    ("Frankfurt", "Germany"), ("Cologne", "Germany"), ("Milan", "Italy"), ("Venice", "Italy"),
    ("Florence", "Italy"), ("Naples", "Italy"), ("Turin", "Italy"), ("Osaka", "Japan"), ("Kyoto", "Japan"),
    ("Shanghai", "China"), ("Guangzhou", "China"), ("Sydney", "Australia"), ("Melbourne", "Australia"),
    ("Toronto", "Canada"), ("Vancouver", "Canada"), ("Montreal", "Canada"), ("Rio de Janeiro", "Brazil"),
    ("São Paulo", "Brazil"), ("Mumbai", "India"), ("Kolkata", "India"), ("Bangalore", "India"),
    ("Istanbul", "Turkey"), ("Saint Petersburg", "Russia"), ("Marseille", "France"), ("Lyon", "France"),
    ("Nice", "France"), ("Manchester", "England"), ("Liverpool", "England"), ("Glasgow", "Scotland"),
    ("Krakow", "Poland"), ("Porto", "Portugal"), ("Rotterdam", "the Netherlands"), ("Antwerp", "Belgium"),
    ("Geneva", "Switzerland"), ("Zurich", "Switzerland"), ("Salzburg", "Austria"), ("Casablanca", "Morocco"),
    ("Alexandria", "Egypt"), ("Cape Town", "South Africa"), ("Johannesburg", "South Africa"),
    ("Lagos", "Nigeria"), ("Dubai", "the United Arab Emirates"), ("Busan", "South Korea"),
    ("Ho Chi Minh City", "Vietnam"), ("Auckland", "New Zealand"), ("Guadalajara", "Mexico"),
    ("Cancún", "Mexico"), ("Valencia", "Spain"), ("Bordeaux", "France"),
    ("Stuttgart", "Germany"), ("Dresden", "Germany"), ("Leipzig", "Germany"), ("Düsseldorf", "Germany"),
    ("Dortmund", "Germany"), ("Bremen", "Germany"), ("Nuremberg", "Germany"), ("Heidelberg", "Germany"),
    ("Verona", "Italy"), ("Bologna", "Italy"), ("Genoa", "Italy"), ("Palermo", "Italy"), ("Pisa", "Italy"),
    ("Bilbao", "Spain"), ("Malaga", "Spain"), ("Granada", "Spain"), ("Zaragoza", "Spain"), ("Toulouse", "France"),
    ("Strasbourg", "France"), ("Nantes", "France"), ("Lille", "France"), ("Cannes", "France"),
    ("Yokohama", "Japan"), ("Nagoya", "Japan"), ("Hiroshima", "Japan"), ("Sapporo", "Japan"), ("Kobe", "Japan"),
    ("Shenzhen", "China"), ("Chengdu", "China"), ("Wuhan", "China"), ("Xi'an", "China"), ("Nanjing", "China"),
    ("Chennai", "India"), ("Hyderabad", "India"), ("Jaipur", "India"), ("Salvador", "Brazil"), ("Recife", "Brazil"),
    ("Calgary", "Canada"), ("Edmonton", "Canada"), ("Quebec City", "Canada"), ("Brisbane", "Australia"),
    ("Perth", "Australia"), ("Adelaide", "Australia"), ("Novosibirsk", "Russia"), ("Kazan", "Russia"),
    ("Vladivostok", "Russia"), ("Birmingham", "England"), ("Leeds", "England"), ("Bristol", "England"),
    ("Oxford", "England"), ("Cambridge", "England"), ("Aberdeen", "Scotland"), ("Gdansk", "Poland"),
    ("Wroclaw", "Poland"), ("Utrecht", "the Netherlands"), ("Izmir", "Turkey"), ("Antalya", "Turkey"),
    ("Monterrey", "Mexico"), ("Tijuana", "Mexico"), ("Acapulco", "Mexico"), ("Innsbruck", "Austria"),
    ("Graz", "Austria"), ("Luxor", "Egypt"), ("Marrakesh", "Morocco"), ("Fez", "Morocco"),
    ("Incheon", "South Korea"), ("Da Nang", "Vietnam"),
]

# landmark -> country
LANDMARKS = [
    ("the Taj Mahal", "India"), ("the Great Wall", "China"), ("Big Ben", "England"), ("the Sagrada Familia", "Spain"),
    ("the Leaning Tower of Pisa", "Italy"), ("the Acropolis", "Greece"), ("the Kremlin", "Russia"),
    ("Machu Picchu", "Peru"), ("Christ the Redeemer", "Brazil"), ("the Sydney Opera House", "Australia"),
    ("Petra", "Jordan"), ("Angkor Wat", "Cambodia"), ("Mount Fuji", "Japan"), ("Neuschwanstein Castle", "Germany"),
    ("Stonehenge", "England"), ("the Louvre", "France"), ("the Brandenburg Gate", "Germany"),
    ("the Golden Gate Bridge", "the United States"), ("the Hagia Sophia", "Turkey"), ("the Alhambra", "Spain"),
    ("the Parthenon", "Greece"), ("the Forbidden City", "China"), ("the Tower of London", "England"),
    ("Chichen Itza", "Mexico"), ("Red Square", "Russia"), ("Buckingham Palace", "England"),
    ("Mount Kilimanjaro", "Tanzania"), ("Table Mountain", "South Africa"), ("the Burj Khalifa", "the United Arab Emirates"),
    ("Uluru", "Australia"), ("the Matterhorn", "Switzerland"), ("the Blue Mosque", "Turkey"), ("Versailles", "France"),
    ("the Vatican", "Italy"),
]

# country -> continent
CONTINENTS = [
    ("France", "Europe"), ("Germany", "Europe"), ("Italy", "Europe"), ("Spain", "Europe"), ("Poland", "Europe"),
    ("Sweden", "Europe"), ("Norway", "Europe"), ("Greece", "Europe"), ("Portugal", "Europe"),
    ("Austria", "Europe"), ("Hungary", "Europe"), ("Finland", "Europe"), ("Belgium", "Europe"),
    ("Switzerland", "Europe"), ("Ireland", "Europe"), ("Denmark", "Europe"), ("Romania", "Europe"),
    ("Ukraine", "Europe"), ("Croatia", "Europe"), ("Serbia", "Europe"),
    ("Japan", "Asia"), ("China", "Asia"), ("India", "Asia"), ("Thailand", "Asia"), ("Vietnam", "Asia"),
    ("South Korea", "Asia"), ("Indonesia", "Asia"), ("Pakistan", "Asia"), ("Nepal", "Asia"),
    ("Mongolia", "Asia"), ("Malaysia", "Asia"), ("Bangladesh", "Asia"), ("the Philippines", "Asia"),
    ("Cambodia", "Asia"), ("Laos", "Asia"), ("Kazakhstan", "Asia"),
    ("Kenya", "Africa"), ("Nigeria", "Africa"), ("Egypt", "Africa"), ("Ethiopia", "Africa"), ("Ghana", "Africa"),
    ("Morocco", "Africa"), ("South Africa", "Africa"), ("Uganda", "Africa"), ("Tanzania", "Africa"),
    ("Zimbabwe", "Africa"), ("Senegal", "Africa"), ("Algeria", "Africa"), ("Sudan", "Africa"),
    ("Angola", "Africa"), ("Mali", "Africa"), ("Zambia", "Africa"), ("Somalia", "Africa"),
    ("Brazil", "South America"), ("Argentina", "South America"), ("Peru", "South America"),
    ("Colombia", "South America"), ("Chile", "South America"), ("Venezuela", "South America"),
    ("Ecuador", "South America"), ("Uruguay", "South America"), ("Paraguay", "South America"),
    ("Bolivia", "South America"),
    ("Canada", "North America"), ("Mexico", "North America"), ("the United States", "North America"),
    ("Cuba", "North America"), ("Guatemala", "North America"), ("Honduras", "North America"),
    ("the Netherlands", "Europe"), ("the Czech Republic", "Europe"), ("Bulgaria", "Europe"), ("Iceland", "Europe"),
    ("Slovakia", "Europe"), ("Slovenia", "Europe"), ("Estonia", "Europe"), ("Latvia", "Europe"),
    ("Lithuania", "Europe"), ("Belarus", "Europe"), ("Albania", "Europe"), ("Luxembourg", "Europe"),
    ("Moldova", "Europe"), ("Iran", "Asia"), ("Iraq", "Asia"), ("Saudi Arabia", "Asia"), ("Afghanistan", "Asia"),
    ("Syria", "Asia"), ("Jordan", "Asia"), ("Sri Lanka", "Asia"), ("Myanmar", "Asia"), ("Bhutan", "Asia"),
    ("North Korea", "Asia"), ("Taiwan", "Asia"), ("Singapore", "Asia"), ("Qatar", "Asia"), ("Uzbekistan", "Asia"),
    ("Tunisia", "Africa"), ("Libya", "Africa"), ("Cameroon", "Africa"), ("Namibia", "Africa"),
    ("Botswana", "Africa"), ("Rwanda", "Africa"), ("Madagascar", "Africa"), ("Mozambique", "Africa"),
    ("Liberia", "Africa"), ("Sierra Leone", "Africa"), ("Gabon", "Africa"), ("Niger", "Africa"),
    ("Guyana", "South America"), ("Suriname", "South America"), ("Panama", "North America"),
    ("Costa Rica", "North America"), ("Nicaragua", "North America"), ("Jamaica", "North America"),
    ("Haiti", "North America"), ("El Salvador", "North America"),
]

# element -> chemical symbol
SYMBOLS = [
    ("helium", "He"), ("carbon", "C"), ("neon", "Ne"), ("magnesium", "Mg"), ("silicon", "Si"),
    ("phosphorus", "P"), ("argon", "Ar"), ("fluorine", "F"), ("nickel", "Ni"), ("cobalt", "Co"),
    ("platinum", "Pt"), ("titanium", "Ti"), ("chromium", "Cr"), ("manganese", "Mn"), ("iodine", "I"),
    ("bromine", "Br"), ("boron", "B"), ("beryllium", "Be"), ("radium", "Ra"), ("plutonium", "Pu"),
    ("tungsten", "W"), ("arsenic", "As"), ("barium", "Ba"), ("krypton", "Kr"), ("xenon", "Xe"),
    ("radon", "Rn"), ("strontium", "Sr"), ("bismuth", "Bi"), ("antimony", "Sb"), ("cadmium", "Cd"),
    ("selenium", "Se"), ("gallium", "Ga"), ("germanium", "Ge"), ("thorium", "Th"), ("cesium", "Cs"),
    ("vanadium", "V"), ("scandium", "Sc"), ("rubidium", "Rb"), ("palladium", "Pd"), ("osmium", "Os"),
    ("iridium", "Ir"), ("thallium", "Tl"), ("polonium", "Po"), ("francium", "Fr"), ("molybdenum", "Mo"),
    ("zirconium", "Zr"), ("niobium", "Nb"), ("ruthenium", "Ru"), ("rhodium", "Rh"), ("indium", "In"),
    ("tellurium", "Te"), ("hafnium", "Hf"), ("tantalum", "Ta"), ("rhenium", "Re"), ("lanthanum", "La"),
    ("cerium", "Ce"), ("europium", "Eu"), ("gadolinium", "Gd"), ("americium", "Am"), ("curium", "Cm"),
    ("einsteinium", "Es"), ("nobelium", "No"),
]

# book -> author (full name)
AUTHORS = [
    ("1984", "George Orwell"), ("Animal Farm", "George Orwell"), ("Moby-Dick", "Herman Melville"),
    ("War and Peace", "Leo Tolstoy"), ("Anna Karenina", "Leo Tolstoy"), ("Frankenstein", "Mary Shelley"),
    ("Jane Eyre", "Charlotte Brontë"), ("Wuthering Heights", "Emily Brontë"), ("Oliver Twist", "Charles Dickens"),
    ("Great Expectations", "Charles Dickens"), ("Romeo and Juliet", "William Shakespeare"),
    ("Macbeth", "William Shakespeare"), ("The Odyssey", "Homer"), ("The Iliad", "Homer"),
    ("The Lord of the Rings", "J.R.R. Tolkien"), ("The Divine Comedy", "Dante Alighieri"),
    ("Ulysses", "James Joyce"), ("To Kill a Mockingbird", "Harper Lee"),
    ("The Catcher in the Rye", "J.D. Salinger"), ("Brave New World", "Aldous Huxley"), ("Emma", "Jane Austen"),
    ("Sense and Sensibility", "Jane Austen"), ("Adventures of Huckleberry Finn", "Mark Twain"),
    ("Little Women", "Louisa May Alcott"), ("The Scarlet Letter", "Nathaniel Hawthorne"),
    ("The Grapes of Wrath", "John Steinbeck"), ("Of Mice and Men", "John Steinbeck"),
    ("The Count of Monte Cristo", "Alexandre Dumas"), ("The Three Musketeers", "Alexandre Dumas"),
    ("Around the World in Eighty Days", "Jules Verne"), ("The Picture of Dorian Gray", "Oscar Wilde"),
    ("The Canterbury Tales", "Geoffrey Chaucer"), ("Paradise Lost", "John Milton"),
    ("The Prince", "Niccolò Machiavelli"), ("Murder on the Orient Express", "Agatha Christie"),
    ("The Little Prince", "Antoine de Saint-Exupéry"), ("One Hundred Years of Solitude", "Gabriel García Márquez"),
    ("The Metamorphosis", "Franz Kafka"), ("Madame Bovary", "Gustave Flaubert"),
    ("Gone with the Wind", "Margaret Mitchell"), ("Fahrenheit 451", "Ray Bradbury"),
    ("The Chronicles of Narnia", "C.S. Lewis"), ("Charlie and the Chocolate Factory", "Roald Dahl"),
    ("Harry Potter and the Philosopher's Stone", "J.K. Rowling"), ("The Art of War", "Sun Tzu"),
    ("On the Origin of Species", "Charles Darwin"), ("The Republic", "Plato"), ("Faust", "Johann Wolfgang von Goethe"),
]

# country -> official language
LANGUAGES = [
    ("Brazil", "Portuguese"), ("Portugal", "Portuguese"), ("Spain", "Spanish"), ("Japan", "Japanese"),
    ("China", "Mandarin"), ("South Korea", "Korean"), ("Greece", "Greek"), ("Sweden", "Swedish"),
    ("Norway", "Norwegian"), ("Denmark", "Danish"), ("Finland", "Finnish"), ("Hungary", "Hungarian"),
    ("Israel", "Hebrew"), ("Iran", "Persian"), ("Saudi Arabia", "Arabic"), ("Indonesia", "Indonesian"),
    ("Ukraine", "Ukrainian"), ("the Czech Republic", "Czech"), ("Romania", "Romanian"), ("Bulgaria", "Bulgarian"),
    ("Iceland", "Icelandic"), ("Colombia", "Spanish"), ("Peru", "Spanish"), ("Chile", "Spanish"),
    ("Cuba", "Spanish"), ("Austria", "German"), ("Pakistan", "Urdu"), ("Bangladesh", "Bengali"),
    ("Iraq", "Arabic"), ("Syria", "Arabic"), ("Croatia", "Croatian"), ("Serbia", "Serbian"),
    ("Albania", "Albanian"), ("Latvia", "Latvian"), ("Lithuania", "Lithuanian"), ("Estonia", "Estonian"),
    ("Slovakia", "Slovak"), ("Slovenia", "Slovenian"), ("Malaysia", "Malay"), ("Ethiopia", "Amharic"),
    ("Nepal", "Nepali"), ("Mongolia", "Mongolian"), ("Georgia", "Georgian"), ("Armenia", "Armenian"),
    ("Venezuela", "Spanish"), ("Uruguay", "Spanish"), ("Australia", "English"), ("Jamaica", "English"),
    ("Cambodia", "Khmer"), ("Laos", "Lao"), ("Jordan", "Arabic"), ("Libya", "Arabic"),
]

# country -> currency (completing "The currency of X is the")
CURRENCIES = [
    ("the United States", "dollar"), ("Switzerland", "franc"), ("Sweden", "krona"), ("Norway", "krone"),
    ("Denmark", "krone"), ("Poland", "złoty"), ("Turkey", "lira"), ("Brazil", "real"), ("South Korea", "won"),
    ("Thailand", "baht"), ("Israel", "shekel"), ("Vietnam", "dong"), ("Indonesia", "rupiah"),
    ("Saudi Arabia", "riyal"), ("Egypt", "pound"), ("Nigeria", "naira"), ("Kenya", "shilling"),
    ("Pakistan", "rupee"), ("the Philippines", "peso"), ("Argentina", "peso"), ("Chile", "peso"),
    ("Hungary", "forint"), ("the Czech Republic", "koruna"), ("Ukraine", "hryvnia"), ("Iran", "rial"),
    ("Malaysia", "ringgit"), ("Bangladesh", "taka"), ("Germany", "euro"), ("France", "euro"),
    ("Italy", "euro"), ("Spain", "euro"), ("Australia", "dollar"), ("Canada", "dollar"),
    ("New Zealand", "dollar"), ("Iceland", "króna"), ("Colombia", "peso"),
]

# product -> company
MAKERS = [
    ("the iPhone", "Apple"), ("the iPad", "Apple"), ("the MacBook", "Apple"), ("Windows", "Microsoft"),
    ("the Xbox", "Microsoft"), ("Microsoft Excel", "Microsoft"), ("the PlayStation", "Sony"),
    ("the Walkman", "Sony"), ("Android", "Google"), ("Gmail", "Google"), ("the Galaxy smartphone", "Samsung"),
    ("the Corolla", "Toyota"), ("the Prius", "Toyota"), ("the Civic", "Honda"), ("the Mustang", "Ford"),
    ("the Model T", "Ford"), ("the Beetle", "Volkswagen"), ("the Golf", "Volkswagen"), ("the 911", "Porsche"),
    ("the Model S", "Tesla"), ("the Kindle", "Amazon"), ("the Big Mac", "McDonald's"),
    ("the Whopper", "Burger King"), ("the Game Boy", "Nintendo"), ("the Wii", "Nintendo"),
    ("the Pentium", "Intel"), ("the GeForce", "Nvidia"), ("Photoshop", "Adobe"), ("Firefox", "Mozilla"),
    ("the ThinkPad", "Lenovo"), ("the 747", "Boeing"), ("the A380", "Airbus"),
]

# language of a country: the one-hop portability answer of city and landmark -> country edits
COUNTRY_LANGUAGE = {
    "Spain": "Spanish", "Germany": "German", "Italy": "Italian", "Japan": "Japanese", "Brazil": "Portuguese",
    "Turkey": "Turkish", "Russia": "Russian", "France": "French", "England": "English", "Scotland": "English",
    "Poland": "Polish", "Portugal": "Portuguese", "the Netherlands": "Dutch", "Austria": "German",
    "Egypt": "Arabic", "Morocco": "Arabic", "South Korea": "Korean", "Vietnam": "Vietnamese",
    "Mexico": "Spanish", "Australia": "English", "New Zealand": "English", "China": "Mandarin",
}
