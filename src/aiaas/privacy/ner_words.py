"""Word lists for ``ner_data``: places, name parts Faker lacks, and the O material (drugs,
products, companies, ids, phones, cards) drawn into the synthetic training text.

Kept apart from the generator so each module stays one concept; the document templates are in
``ner_templates``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from aiaas.privacy.ner_templates import CASUAL_STYLES, LINE_STYLES, NEGATIVE_LINES, STYLES

__all__ = ["CASUAL_STYLES", "LINE_STYLES", "NEGATIVE_LINES", "STYLES", "other"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(" ".join(item.split()) for item in text.split("|") if item.strip())


PLACE_SLOTS = frozenset({"CITY", "COUNTRY", "ADDR", "AIRPORT", "STREET", "REGION", "PLACE"})

ARABIC_FIRST = _words("""Ahmed|Mohammed|Mohamed|Ali|Hassan|Hussein|Khalid|Tariq|Yusuf|Ibrahim|Mahmoud|
Karim|Samir|Nabil|Faisal|Rashid|Walid|Ziad|Hamza|Bilal|Amir|Mustafa|Jamal|Salim|Adel|Hisham|Anas|
Layla|Leila|Noor|Mariam|Yasmin|Huda|Rania|Salma|Amina|Zainab|Dina|Hana|Lina|Reem|Samira|Nadia|Farah|
Aisha|Khadija|Mona|Soraya|Rasha|Hiba|Ghada|Maha|Dalia|Nour""")
ARABIC_LAST = _words("""Haddad|Khoury|Nasser|Saleh|Mansour|Hamdan|Abdallah|Farouk|Rahman|Qureshi|
Sayegh|Aziz|Darwish|Shami|Masri|Hakim|Jaber|Bakri|Tamimi|Ansari|Zahran|Karam|Sabbagh|Habib|Hashemi|
Mahmoud|Othman|Suleiman|Najjar|Kassem|Rifai|Shaheen|Attar|Barakat|Fakhoury|Ghanem|Harb|Issa|Zaki""")
KOREAN_FIRST = _words("""Min-jun|Seo-yeon|Ji-ho|Ha-eun|Do-yun|Ji-woo|Seo-jun|Su-bin|Hyun-woo|Ye-jin|
Jae-won|Eun-ji|Sung-min|Hye-jin|Young-ho|Mi-kyung|Dong-hyun|Ji-yeon|Tae-yang|Soo-ah""")
KOREAN_LAST = _words("""Kim|Lee|Park|Choi|Jung|Kang|Cho|Yoon|Jang|Lim|Han|Oh|Seo|Shin|
Kwon|Hwang|Ahn|Song|Yoo|Hong""")
AKAN_FIRST = _words("""Kofi|Kojo|Kwabena|Kwaku|Yaw|Kwesi|Kwadwo|Ama|Akua|Abena|Afua|Yaa|Efua|Adwoa|
Esi|Akosua|Nana|Ekow|Fiifi|Adjoa""")
AKAN_LAST = _words("""Mensah|Owusu|Boateng|Osei|Agyeman|Ofori|Darko|Addo|Amoah|Acheampong|Frimpong|
Oppong|Sarpong|Quaye|Tetteh|Annan|Badu|Gyamfi|Nkansah|Danquah""")
VIET_GIVEN = _words("Minh Anh|Thu Hà|Quốc Bảo|Ngọc Lan|Văn Hùng|Thị Mai|Đức Anh|Hoàng Nam|Thanh Tâm|Gia Huy")

WORLD_CITIES = _words("""London|Manchester|Birmingham|Glasgow|Edinburgh|Cardiff|Belfast|Bristol|
Liverpool|Sheffield|Nottingham|Leicester|Brighton|Oxford|Cambridge|York|Bath|Exeter|Plymouth|Norwich|
Aberdeen|Dundee|Swansea|Coventry|Southampton|Portsmouth|Bournemouth|Derby|Hull|Sunderland|Cork|Galway|
Limerick|Paris|Lyon|Marseille|Toulouse|Nice|Bordeaux|Lille|Nantes|Strasbourg|Berlin|Munich|Cologne|
Stuttgart|Düsseldorf|Dresden|Leipzig|Bremen|Hanover|Nuremberg|Vienna|Salzburg|Zurich|Geneva|Basel|
Bern|Amsterdam|Rotterdam|Utrecht|The Hague|Eindhoven|Brussels|Antwerp|Ghent|Luxembourg|Copenhagen|
Aarhus|Oslo|Bergen|Trondheim|Helsinki|Tampere|Reykjavik|Madrid|Barcelona|Valencia|Seville|Bilbao|
Málaga|Zaragoza|Porto|Faro|Rome|Milan|Naples|Turin|Florence|Venice|Bologna|Genoa|Palermo|Athens|
Thessaloniki|Prague|Brno|Budapest|Bratislava|Ljubljana|Zagreb|Split|Belgrade|Sarajevo|Sofia|
Bucharest|Cluj-Napoca|Gdańsk|Wrocław|Poznań|Łódź|Vilnius|Riga|Tallinn|Kyiv|Lviv|Istanbul|Ankara|
Izmir|Antalya|Tel Aviv|Jerusalem|Amman|Beirut|Cairo|Alexandria|Casablanca|Rabat|Fez|Tunis|Algiers|
Lagos|Abuja|Ibadan|Kano|Port Harcourt|Enugu|Kumasi|Tamale|Nairobi|Mombasa|Kisumu|Kampala|Kigali|
Dar es Salaam|Zanzibar|Addis Ababa|Johannesburg|Cape Town|Durban|Pretoria|Harare|Lusaka|Gaborone|
Windhoek|Dakar|Abidjan|Doha|Abu Dhabi|Sharjah|Riyadh|Jeddah|Muscat|Kuwait City|Manama|Tehran|Karachi|
Lahore|Islamabad|Mumbai|Delhi|New Delhi|Bengaluru|Bangalore|Chennai|Hyderabad|Kolkata|Pune|Ahmedabad|
Jaipur|Kochi|Lucknow|Colombo|Kathmandu|Dhaka|Chittagong|Bangkok|Chiang Mai|Phuket|Hanoi|
Ho Chi Minh City|Da Nang|Kuala Lumpur|Penang|Jakarta|Surabaya|Bandung|Bali|Manila|Cebu|Davao|
Hong Kong|Macau|Taipei|Shanghai|Beijing|Shenzhen|Guangzhou|Chengdu|Wuhan|Hangzhou|Seoul|Busan|Incheon|
Osaka|Kyoto|Yokohama|Nagoya|Sapporo|Fukuoka|Kobe|Sydney|Melbourne|Brisbane|Perth|Adelaide|Canberra|
Hobart|Darwin|Auckland|Wellington|Christchurch|Queenstown|Toronto|Montreal|Vancouver|Calgary|Ottawa|
Edmonton|Winnipeg|Halifax|Quebec City|Los Angeles|San Francisco|Seattle|Portland|Denver|Phoenix|
Dallas|Houston|Austin|San Antonio|Atlanta|Miami|Orlando|Boston|Philadelphia|Baltimore|Washington|
Detroit|Minneapolis|St. Louis|Nashville|Memphis|New Orleans|Las Vegas|Salt Lake City|Pittsburgh|
Cleveland|Cincinnati|Indianapolis|Kansas City|Milwaukee|Charlotte|Raleigh|Sacramento|San Jose|Tucson|
Albuquerque|Honolulu|Anchorage|Brooklyn|Queens|Mexico City|Guadalajara|Monterrey|Cancún|Tijuana|
Bogotá|Medellín|Cali|Lima|Cusco|Quito|Santiago|Buenos Aires|Córdoba|Montevideo|São Paulo|Brasília|
Salvador|Recife|Fortaleza|Belo Horizonte|Curitiba|Porto Alegre|Havana|San Juan|Kingston|Panama City|
Chester|Lincoln|Durham|Lancaster|Preston|Bolton|Wigan|Croydon|Slough|Luton|Watford|Guildford|Harrogate|
Inverness|Stirling|Perth|Wrexham|Newport|Derry|Kilkenny|Sligo|Athlone|Tralee""")
COUNTRIES = _words("""United Kingdom|UK|England|Scotland|Wales|Northern Ireland|Ireland|France|Germany|
Spain|Portugal|Italy|Netherlands|Belgium|Switzerland|Austria|Denmark|Norway|Sweden|Finland|Iceland|
Poland|Czech Republic|Czechia|Slovakia|Hungary|Romania|Bulgaria|Greece|Croatia|Serbia|Slovenia|Ukraine|
Lithuania|Latvia|Estonia|Turkey|Türkiye|Cyprus|Malta|Morocco|Egypt|Tunisia|Nigeria|Ghana|Kenya|Uganda|
Tanzania|Ethiopia|Rwanda|South Africa|Zimbabwe|Senegal|Cameroon|Israel|Jordan|Lebanon|Saudi Arabia|
Qatar|Oman|Kuwait|the UAE|United Arab Emirates|Iran|Iraq|Pakistan|India|Sri Lanka|Nepal|Bangladesh|
Thailand|Vietnam|Malaysia|Singapore|Indonesia|the Philippines|China|Taiwan|Japan|South Korea|Korea|
Australia|New Zealand|Canada|the United States|the US|USA|United States|Mexico|Colombia|Peru|Chile|
Argentina|Brazil|Uruguay|Cuba|Jamaica|Puerto Rico|Costa Rica|Ecuador|Venezuela|Bolivia|Panama""")
REGIONS = _words("""California|Texas|Florida|New York State|Ohio|Oregon|Georgia|Virginia|Arizona|Nevada|
Colorado|Michigan|Illinois|Massachusetts|Washington State|Ontario|Quebec|British Columbia|Alberta|
Queensland|Victoria|New South Wales|Tasmania|Bavaria|Saxony|Tuscany|Sicily|Catalonia|Andalusia|
Provence|Brittany|Normandy|Yorkshire|Cornwall|Devon|Kent|Essex|Surrey|Lancashire|Cumbria|Norfolk|
the Highlands|County Cork|County Kerry|Kerala|Punjab|Goa|Maharashtra|Karnataka|Lagos State|Gauteng|
Western Cape|Bali|Hokkaido|Okinawa|the Algarve|the Lake District|Patagonia|Siberia|Scandinavia""")
AIRPORTS = _words("""Heathrow Airport|Gatwick|London Gatwick|Stansted|London Stansted|Luton Airport|
Manchester Airport|Birmingham Airport|Edinburgh Airport|Dublin Airport|Charles de Gaulle|
Paris Charles de Gaulle|Orly|Schiphol|Amsterdam Schiphol|Frankfurt Airport|Munich Airport|
Zurich Airport|Madrid Barajas|Barcelona El Prat|Lisbon Airport|Rome Fiumicino|Milan Malpensa|
Istanbul Airport|Dubai International|Abu Dhabi International|Hamad International|Doha Hamad|
Changi Airport|Singapore Changi|Hong Kong International|Tokyo Narita|Narita|Haneda|Tokyo Haneda|
Incheon Airport|Sydney Airport|Melbourne Tullamarine|Auckland Airport|JFK|JFK Airport|Newark|
Newark Liberty|LaGuardia|O'Hare|Chicago O'Hare|LAX|SFO|Logan Airport|Toronto Pearson|
Vancouver International|Murtala Muhammed Airport|Jomo Kenyatta International|OR Tambo|
Indira Gandhi International|Chhatrapati Shivaji Airport|Kempegowda Airport|Soekarno-Hatta|
Ninoy Aquino International|Suvarnabhumi|Kotoka International|Cancún Airport|Guarulhos""")

# Address parts. Keys used in ADDRESS_FORMATS are filled by ner_data._Lazy.
STREET_STEMS = _words("""High|Church|Station|Mill|Park|Victoria|Queen|King|Albert|George|Market|
Bridge|School|Manor|Grange|Orchard|Meadow|Willow|Oak|Elm|Maple|Cedar|Pine|Birch|Ash|Beech|Cherry|
Chestnut|Hawthorn|Holly|Ivy|Laurel|Rose|Primrose|Lavender|Heather|Bluebell|Sunset|Lakeview|Riverside|
Hillcrest|Fairview|Highland|Valley|Forest|Spring|Sycamore|Magnolia|Poplar|Cypress|Juniper|Aspen|Lime|
Castle|Abbey|Priory|Chapel|Windmill|Quarry|Canal|Harbour|Harbor|Bay|Ocean|Sea|Beach|Shore|Cliff|Glen|
Wood|Green|Brook|Stone|Granite|Marble|Silver|Golden|Copper|Iron|Lincoln|Jefferson|Madison|Franklin|
Washington|Adams|Monroe|Kennedy|Grant|Jackson|Wellington|Nelson|Cromwell|Gladstone|Milton|Shakespeare|
Kingsway|Broad|Long|New|Old|Front|Water|Union|Commercial|Central|Main|Pleasant|Prospect|Paradise|
Mountain|Vista|Canyon|Mesa|Desert|Prairie|Ridge|Summit|Crown|Regent|Princes|Dock|Ferry|Tannery""")
UK_STREET_KINDS = _words("""Road|Road|Street|Street|Lane|Lane|Avenue|Close|Drive|Way|Crescent|Gardens|
Terrace|Place|Grove|Mews|Hill|Row|Square|Court|Walk|Park|Rise|View|Green|Parade|Vale|Yard""")
US_STREET_KINDS = _words("""Street|St|St.|Avenue|Ave|Ave.|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|
Court|Ct|Way|Place|Pl|Circle|Cir|Parkway|Pkwy|Terrace|Trail|Highway|Hwy""")
STREET_LOCALE = {"de": "de_DE", "nl": "nl_NL", "no": "no_NO", "se": "sv_SE", "dk": "da_DK", "pl": "pl_PL"}
CITY_FAKERS = {"de": "de_DE", "nl": "nl_NL", "se": "sv_SE", "dk": "da_DK", "pl": "pl_PL", "es": "es_ES",
               "pt": "pt_PT", "fi": "fi_FI", "at": "de_AT", "cz": "cs_CZ", "in": "en_IN", "no": "no_NO"}
CITY_LOCALES = ("de_DE", "es_ES", "nl_NL", "pl_PL", "sv_SE", "da_DK", "fi_FI", "pt_PT", "de_AT",
                "cs_CZ", "en_IN", "id_ID")  # where Faker's city() gives real places
FAKER_LOCALES = frozenset({*CITY_LOCALES, *CITY_FAKERS.values(), *STREET_LOCALE.values(), "en_US", "en_GB"})
US_CITY = _words("""Boston, MA|Austin, TX|Houston, TX|Dallas, TX|Denver, CO|Phoenix, AZ|Tucson, AZ|
Portland, OR|Seattle, WA|Spokane, WA|Sacramento, CA|Oakland, CA|Fresno, CA|Los Angeles, CA|
San Jose, CA|Reno, NV|Las Vegas, NV|Salt Lake City, UT|Albuquerque, NM|Omaha, NE|Wichita, KS|
Kansas City, MO|St. Louis, MO|Des Moines, IA|Madison, WI|Milwaukee, WI|Minneapolis, MN|Detroit, MI|
Ann Arbor, MI|Cleveland, OH|Cincinnati, OH|Pittsburgh, PA|Philadelphia, PA|Buffalo, NY|Albany, NY|
Brooklyn, NY|Newark, NJ|Hartford, CT|Providence, RI|Burlington, VT|Baltimore, MD|Richmond, VA|
Raleigh, NC|Charlotte, NC|Charleston, SC|Atlanta, GA|Savannah, GA|Jacksonville, FL|Miami, FL|
Orlando, FL|Birmingham, AL|Nashville, TN|Memphis, TN|Louisville, KY|Indianapolis, IN|Little Rock, AR|
New Orleans, LA|Oklahoma City, OK|Boise, ID|Billings, MT|Anchorage, AK|Honolulu, HI|Fargo, ND""")
UK_TOWN = _words("""Bristol|Leicester|Sheffield|Nottingham|Cardiff|Swansea|Derby|Norwich|Ipswich|
Cambridge|Oxford|Reading|Slough|Milton Keynes|Northampton|Coventry|Wolverhampton|Walsall|Stoke-on-Trent|
Bolton|Wigan|Preston|Blackpool|Lancaster|Carlisle|Durham|Sunderland|Middlesbrough|Harrogate|Bradford|
Huddersfield|Halifax|Doncaster|Lincoln|Peterborough|Colchester|Chelmsford|Southend-on-Sea|Maidstone|
Canterbury|Brighton|Hove|Worthing|Guildford|Woking|Basingstoke|Salisbury|Exeter|Truro|Plymouth|
Gloucester|Cheltenham|Hereford|Worcester|Shrewsbury|Chester|Crewe|Warrington|Birkenhead|Glasgow|
Paisley|Dundee|Perth|Inverness|Aberdeen|Belfast|Newry|London|Manchester|Leeds|Liverpool""")
UK_DISTRICT = _words("""Hackney|Islington|Camden|Brixton|Lewisham|Tooting|Walthamstow|Stratford|Ealing|
Hounslow|Salford|Didsbury|Headingley|Moseley|Edgbaston|Clifton|Jesmond|Morningside|Leith|Partick""")
IE_TOWN = _words("""Dublin 4|Dublin 6|Dublin 7|Dublin 8|Dublin 15|Dublin 24|Cork|Galway|Limerick|
Waterford|Kilkenny|Sligo|Athlone|Swords|Bray|Drogheda|Navan|Ennis|Tralee|Letterkenny""")
FR_STREET = _words("""rue de la Paix|rue Victor Hugo|avenue Jean Jaurès|boulevard Voltaire|rue du Faubourg
Saint-Denis|rue des Lilas|avenue de la République|rue Nationale|place de la Mairie|rue du Moulin|
rue Pasteur|quai des Chartrons|rue Saint-Michel|cours Mirabeau|rue de Rivoli""")
FR_CITY = _words("""Paris|Lyon|Marseille|Toulouse|Nantes|Lille|Bordeaux|Rennes|Grenoble|Montpellier|
Dijon|Tours|Nice""")
ES_STEM = _words("""Calle Mayor|Calle de Alcalá|Avenida de la Constitución|Calle Real|Paseo de Gracia|
Calle del Carmen|Avenida de América|Calle San Vicente|Gran Vía|Calle de Serrano|Rambla de Catalunya""")
ES_CITY = _words("Madrid|Barcelona|Valencia|Sevilla|Málaga|Bilbao|Zaragoza|Granada|Alicante|Murcia|Palma")
IT_STEM = _words("""Via Roma|Via Garibaldi|Via Mazzini|Corso Italia|Via Dante|Via Verdi|Viale Europa|
Via Cavour""")
IT_CITY = _words("Roma|Milano|Napoli|Torino|Firenze|Bologna|Genova|Verona|Padova|Bari")
BR_STREET = _words("""Rua das Flores|Rua Augusta|Avenida Paulista|Rua Oscar Freire|Avenida Brasil|
Rua XV de Novembro|Avenida Boa Viagem|Rua da Consolação""")
BR_CITY = _words("""São Paulo|Rio de Janeiro|Belo Horizonte|Curitiba|Recife|Salvador|Fortaleza|
Porto Alegre|Florianópolis|Campinas""")
BR_AREA = _words("Centro|Ipanema|Leblon|Pinheiros|Moema|Boa Viagem|Savassi|Batel|Barra")
JP_AREA = _words("Shimokitazawa|Nishi-Shinjuku|Sakae|Umeda|Tenjin|Gion|Ebisu|Meieki|Namba|Jiyugaoka")
JP_SUFFIX = _words("Honmachi|Minami|Kita|Higashi|Nishi|Chuo|Sakuragaoka|Midori|Shinmachi")
JP_PREF = _words("Tokyo|Osaka|Kanagawa|Aichi|Hokkaido|Fukuoka|Hyogo|Saitama|Chiba|Kyoto")
JP_CITY = _words("Setagaya|Shibuya|Nagoya|Osaka|Fukuoka|Kyoto|Sapporo|Yokohama|Kawasaki|Sendai")
IN_AREA = _words("""MG Road|Koramangala|Indiranagar|Bandra West|Andheri East|Salt Lake|Banjara Hills|
Anna Nagar|Viman Nagar|Sector 21""")
IN_CITY = _words("Bengaluru|Mumbai|Kolkata|Hyderabad|Chennai|Pune|Gurugram|Noida|Ahmedabad|Jaipur|Kochi")
AF_AREA = _words("""Victoria Island|Ikeja|Lekki|Wuse II|Garki|East Legon|Osu|Westlands|Kilimani|
Karen|Sandton|Rosebank|Kololo|Nyali|Yaba|Surulere""")
AF_CITY = _words("Lagos|Abuja|Accra|Nairobi|Johannesburg|Kampala|Mombasa|Ibadan|Kumasi|Kigali")
AF_STREET = _words("""Adeola Odeku Street|Awolowo Road|Admiralty Way|Oxford Street|Ngong Road|
Kenyatta Avenue|Jan Smuts Avenue|Independence Avenue|Herbert Macaulay Way|Moi Avenue""")
AE_STREET = _words("Sheikh Zayed Road|Jumeirah Beach Road|Al Khail Road|Corniche Road|Hamdan Street")
AE_CITY = _words("Dubai|Abu Dhabi|Sharjah|Doha|Muscat|Riyadh|Manama")
AU_SUBURB = _words("""Bondi NSW|Parramatta NSW|Fitzroy VIC|St Kilda VIC|Fremantle WA|Glenelg SA|
Newtown NSW|Surry Hills NSW|South Brisbane QLD|Sandy Bay TAS""")
STEM = STREET_STEMS
HOUSE = _words("Rose Cottage|The Old Rectory|Ivy House|Mill House|Orchard View|Meadowbank|The Stables")
ADDRESS_FORMATS = _words("""
{n} {street_us}, {us_city}|{n} {street_us}, {us_city} {zip}|{n} {street_us}, {us_city} {zip}|
{n} {street_us} {flat}, {us_city} {zip}|{n} {street_us}, {flat}, {us_city}|{n} {street_us}|
{n} {street_uk}, {uk_town}|{n} {street_uk}, {uk_town} {ukpc}|{flat}, {n} {street_uk}, {uk_town} {ukpc}|
{n} {street_uk}, {uk_district}, {uk_town}|{house}, {street_uk}, {uk_town}|{n} {street_uk}, {uk_district}|
{n} {street_uk}, {ie_town}|{flat}, {n} {street_uk}, {ie_town}|{n} {street_uk}, {uk_town}, {ukpc}|
{street_de} {n}, {pc_de} {city_de}|{street_de} {n}, {city_de}|{street_nl} {n}, {pc_nl} {city_nl}|
{street_se} {n}, {pc_se} {city_se}|{street_no} {n}, {pc_no} {city_no}|{street_dk} {n}, {pc_dk} {city_dk}|
{n} {fr_street}, {pc_de} {fr_city}|{n}, {fr_street}, {fr_city}|{es_stem} {n}, {es_city}|
{es_stem} {n}, {pc_es} {es_city}|{it_stem} {n}, {pc_de} {it_city}|{br_street} {n}, {br_area}, {br_city}|
{br_street}, {n} - {br_area}, {br_city}|{m}-{k}-{n} {jp_area}, {jp_city}|
{m}-{k}-{n} {jp_area} {jp_suffix}, {jp_city}, {jp_pref}|{flat}, {in_area}, {in_city} {pc_in}|
{n} {af_street}, {af_area}, {af_city}|{n} {af_street}, {af_city}|Villa {n}, {ae_street}, {ae_city}|
{flat}, {n} {street_uk}, {au_suburb}|{n} {street_uk}, {au_suburb} {pc_dk}|
ul. {street_pl} {n}, {pc_pl} {city_pl}""")
PLACE_FORMATS = _words("""{street_uk} car park, {uk_town}|Room {n}, {stem} Hall, {uk_town}|
Unit {n}, {stem} Industrial Estate, {uk_town}|{stem} Shopping Centre, {uk_town}|{stem} Retail Park|
{stem} Business Park, {uk_town}|{n} {street_uk}|{street_uk}, {uk_town}|{street_us}, {us_city}|
{uk_district}|{uk_district}, {uk_town}|{af_area}, {af_city}|{br_area}, {br_city}|{in_area}, {in_city}|
{stem} Station|{stem} Park, {uk_town}""")
MAIL_DOMAINS = _words("""gmail.com|outlook.com|hotmail.com|yahoo.com|yahoo.co.uk|icloud.com|proton.me|
btinternet.com|web.de|gmx.de|orange.fr|libero.it|wp.pl|mail.ru|163.com|qq.com|rediffmail.com|
company.com|acme-corp.com|nhs.net|uni.edu|school.org.uk|example.org""")
TITLES = _words("""Dr.|Dr.|Dr|Mr.|Mr|Mrs.|Mrs|Ms.|Ms|Miss|Prof.|Professor|Nurse|Sister|PC|DC|Sgt|Sgt.|
Officer|Detective|Inspector|Judge|Rev.|Father|Coach|Capt.|Sr.|Sra.|Herr|Frau|Mme|M.|Mx|Dott.|
Councillor|Agent|Pastor|Imam|Chief|Auntie|Uncle|Madam|Sir|Lady|Dame|Midwife|Pharmacist""")

DRUGS = _words("""amoxicillin|co-amoxiclav|clarithromycin|doxycycline|ceftriaxone|metronidazole|
paracetamol|ibuprofen|naproxen|codeine|morphine|oxycodone|tramadol|aspirin|clopidogrel|ticagrelor|
apixaban|rivaroxaban|warfarin|heparin|enoxaparin|atorvastatin|simvastatin|rosuvastatin|bisoprolol|
metoprolol|amlodipine|ramipril|lisinopril|losartan|furosemide|spironolactone|metformin|gliclazide|
insulin glargine|sitagliptin|empagliflozin|levothyroxine|prednisolone|hydrocortisone|dexamethasone|
salbutamol|Ventolin|Seretide|omeprazole|lansoprazole|ondansetron|sertraline|fluoxetine|citalopram|
mirtazapine|quetiapine|olanzapine|lithium|diazepam|lorazepam|zopiclone|gabapentin|pregabalin|
labetalol|nifedipine|Augmentin|Tylenol|Advil|Lipitor|Ozempic|Humira|Keytruda|Xarelto|Eliquis|
Januvia|Zoloft|Prozac|Nexium|Lasix|Coumadin|Plavix|Cipro|Valium|Xanax|Panadol|Nurofen|Calpol""")
CONDITIONS = _words("""pneumonia|sepsis|cellulitis|asthma|COPD|heart failure|atrial fibrillation|NSTEMI|
STEMI|angina|type 2 diabetes|DKA|hypertension|stroke|TIA|migraine|epilepsy|appendicitis|cholecystitis|
pancreatitis|UTI|pyelonephritis|AKI|CKD stage 3|anaemia|DVT|PE|gastroenteritis|Crohn's disease|
ulcerative colitis|Parkinson's disease|Alzheimer's disease|Hashimoto's thyroiditis|Graves' disease|
Addison's disease|Bell's palsy|Down syndrome|Hodgkin lymphoma|Guillain-Barré syndrome|Lyme disease|
pre-eclampsia|bronchiolitis|croup|tonsillitis|otitis media|fractured neck of femur|hip replacement""")
PRODUCTS = _words("""iPhone 15|iPhone 13 Pro|Galaxy S23|Pixel 8|MacBook Air|MacBook Pro|iPad|AirPods|
Kindle|Apple Watch|PlayStation 5|Xbox Series X|Nintendo Switch|Ford Focus|Ford Fiesta|Toyota Corolla|
Honda Civic|VW Golf|Nissan Leaf|Tesla Model 3|Vauxhall Corsa|Windows 11|Office 365|Excel|Outlook|
Teams|Zoom|Slack|Jira|Confluence|Salesforce|SAP|Kubernetes|Docker|PostgreSQL|Redis|OpenSSL|nginx|
Chrome|Firefox|Safari|WhatsApp|Instagram|Netflix|Spotify|Dyson V11|Nespresso Vertuo|Roomba|Peloton|
Renault Clio|Peugeot 208|Kia Sportage|Hyundai Tucson|Skoda Octavia|Mazda CX-5|BMW 3 Series|Audi A4|
Fiat Panda|Nissan Qashqai|Land Rover Discovery|Jeep Cherokee|Chevy Malibu|Toyota Camry|VW Polo|
Seat Leon|Opel Astra|Kia Ceed|Dacia Duster|Volvo XC90|Mini Cooper|Ford Ranger|Honda Jazz""")
BANKS = _words("""Barclays|HSBC|Lloyds|NatWest|Santander|Nationwide|Monzo|Starling|Revolut|Halifax|
Chase|Wells Fargo|Citibank|Capital One|Ally|Discover|ING|Rabobank|ABN AMRO|Deutsche Bank|Commerzbank|
Sparkasse|BNP Paribas|Société Générale|UniCredit|Intesa Sanpaolo|BBVA|CaixaBank|Nordea|Danske Bank|
mBank|PKO BP|AIB|Permanent TSB|Westpac|ANZ|Commonwealth Bank|HDFC Bank|ICICI Bank|GTBank|Ecobank|
Zenith Bank|Equity Bank|Absa|Standard Chartered|DBS|Maybank|Itaú|Bradesco|Nubank|Wise|PayPal|Stripe""")
ORG_PREFIX = _words("""North|Blue|Silver|Bright|Summit|Harbor|Pine|Iron|Crest|Nova|Apex|Red|Green|
Clear|Swift|True|Prime|Sun|Star|Oak|River|Stone|Cloud|Data|Sky|Peak|Urban|Metro|Pacific|Atlantic""")
ORG_SUFFIX = _words("""line|point|field|wave|gate|ridge|path|well|bridge|works|core|stack|vale|way|port""")
ORG_SECTOR = _words("""Mobile|Bank|Credit Union|Logistics|Energy|Insurance|Health|Pharmacy|Telecom|Gear|
Outfitters|Solutions|Systems|Group|Ltd|Inc.|LLC|GmbH|Foods|Motors|Properties|Lettings|Dental|Clinic|
Academy|Airlines|Travel|Hotels|Fitness|Labs|Analytics|Security|Payments|Capital|Realty|Electric""")
JOBS = _words("""data analyst|CFO|Head of Finance|staff nurse|charge nurse|consultant cardiologist|
registrar|GP|physiotherapist|social worker|claims handler|loss adjuster|software engineer|DevOps lead|
store manager|teaching assistant|Year 6 teacher|headteacher|solicitor|paralegal|HR business partner|
account manager|operations manager|security analyst|site supervisor|pharmacist|midwife|paramedic""")
DEPTS = _words("""Card Services|Billing|Risk Team|People Operations|Compliance Team|IT Service Desk|
Customer Support|Claims Department|Fraud Prevention|Accounts Payable|Admissions|Patient Services""")
RELATIONS = _words("""son|daughter|wife|husband|mother|father|brother|sister|partner|neighbour|carer|
friend|niece|nephew|grandson""")
MONTHS = _words("January|February|March|April|May|June|July|August|September|October|November|December")
DAYS = _words("Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday")
TESTS = _words("""CRP {n} mg/L|Hb {n} g/L|WCC {n}|eGFR {n}|HbA1c {n} mmol/mol|troponin {n} ng/L|
sodium {n} mmol/L|potassium {d} mmol/L|INR {d}|BP {n}/{n}|SpO2 {n}%|temp {d}C|lactate {d}|BNP {n}""")
WORDS = _words("""rent|deposit|invoice 118|loyer juin|Mietkaution|school fees|car repair|tickets|dinner|
refund|Nebenkosten März|alquiler mayo|Rechnung 2291|huur oktober|czynsz luty|Hyra april|rent August""")
NICKNAMES = _words("""Will|Bill|Ben|Dan|Sam|Tom|Jim|Rob|Pat|Chris|Alex|Jo|Kate|Meg|Liz|Sue|Nick|Matt|
Tony|Jack|Mike|Andy|Steve|Dave|Rick|Ray|Max|Bob|Ted|Ken|Gus|Ash|Jay|Mel|Bea|Viv|Di|Tash|Becky|Vic|Ollie""")
MERCHANTS = _words("""TESCO STORES|SAINSBURYS|AMZN MKTP UK|UBER *TRIP|PAYPAL *EBAY|APPLE.COM/BILL|
NETFLIX.COM|SHELL 4471|ARGOS LTD|BOOTS 1123|WALMART SUPERCENTER|TARGET T-1123|COSTCO WHSE|STARBUCKS|
MCDONALDS|DELIVEROO|JUST EAT|ASOS.COM|ZARA|IKEA|LIDL GB|ALDI SUED|CARREFOUR|REWE|SQ *CAFE|TFL TRAVEL|
RYANAIR|EASYJET|BOOKING.COM|AIRBNB|STEAM PURCHASE|GOOGLE *YOUTUBE|SPOTIFY P2|ETSY.COM""")
PHONES = _words("""+44 7### ######|07### ### ###|(###) ###-####|###-###-####|###.###.####|
+1 ###-###-####|+49 1## #### ####|+33 6 ## ## ## ##|+91 9#### #####|+234 80# ### ####|+61 4## ### ###|
020 7### ####|+353 8# ### ####|+34 6## ## ## ##|+55 21 9#### ####|+81 90 #### ####|+86 1## #### ####|
+971 5# ### ####|+27 8# ### ####|+48 ### ### ###|01### ######|+254 7## ######|+233 2# ### ####""")
IDS = _words("""INC-######|#####|HX-####-####|TKT-#####|CASE-####|REF ######|##-######|
PO ####|EXP-####|CLM-#######|AB#####C|#A#B##|MRN ########|NHS ### ### ####|RMA-####|ORD-########""")
ABBREVIATIONS = _words("""LAD|RCA|PCI|CABG|ECG|EKG|CXR|MRI|CT|FBC|U&E|LFTs|TFTs|ABG|NBM|TTO|ICU|HDU|ED|
A&E|GP|OT|SALT|DNACPR|NEWS2|GCS|BMI|IV|PO|SC|IM|VTE|MRSA|HIV|HbA1c|CRP|ESR|INR|PSA|LVEF|AF|SVT|
KYC|AML|PIN|OTP|VPN|SSO|MFA|DNS|TLS|SLA|ETA|FAQ|PDF|CSV|API|SKU|VAT|PAYE|P60|P45|HMRC|IRS|DVLA""")
NATIONALITIES = _words("""British|English|Scottish|Welsh|Irish|American|Canadian|Mexican|Brazilian|
German|French|Spanish|Portuguese|Italian|Dutch|Polish|Swedish|Norwegian|Danish|Finnish|Greek|Turkish|
Nigerian|Ghanaian|Kenyan|South African|Indian|Pakistani|Chinese|Japanese|Korean|Vietnamese|Filipino|
Australian|Arabic|Russian|Ukrainian|Romanian|Hungarian|Czech|Moroccan|Egyptian|Lebanese|Jamaican""")
SYLLABLES = _words("""ka|ko|ra|ri|ro|ve|vi|lo|li|na|no|ne|ta|to|zen|tor|lix|via|mo|qu|xa|sa|su|pe|po|
da|di|fy|ly|ex|on|ia|ora|ent|ix|ax|um|io|ity|ara|el|ova|ide|uma|ero""")
DOMAIN_WORDS = _words("portal|secure|app|help|claims|billing|wiki|status|docs|my|shop|booking")


def _digits(pattern: str, rng: random.Random) -> str:
    return "".join(str(rng.randint(0, 9)) if ch == "#" else ch for ch in pattern)


def _brand(rng: random.Random) -> str:
    """A made-up one-word company or product name ("Kavelora"), which must not read as a name."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def _org(rng: random.Random) -> str:
    if rng.random() < 0.35:
        name = _brand(rng)
        return name if rng.random() < 0.5 else f"{name} {rng.choice(ORG_SECTOR)}"
    name = rng.choice(ORG_PREFIX) + rng.choice(ORG_SUFFIX)
    return name if rng.random() < 0.2 else f"{name} {rng.choice(ORG_SECTOR)}"


def _date(rng: random.Random) -> str:
    d, m, y = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1935, 2025)
    month = MONTHS[m - 1]
    return rng.choice([f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d} {month} {y}",
                       f"{month} {d}, {y}", f"{d:02d}.{m:02d}.{y}", f"{d} {month[:3]}", f"{m:02d}/{d:02d}",
                       f"{d} {month[:3].upper()} {y}", f"{m}/{d}/{y}", f"{d} {month}"])


def _money(rng: random.Random) -> str:
    amount = rng.choice([f"{rng.randint(5, 999)}.{rng.randint(0, 99):02d}",
                         f"{rng.randint(1, 99)},{rng.randint(0, 999):03d}",
                         str(rng.randint(10, 5000))])
    cur = rng.choice(["$", "£", "€", "EUR ", "GBP ", "USD ", "CHF ", "PLN ", "SEK ", "AED ", "INR ", "NGN ",
                      "R$ "])
    return f"{amount} {cur.strip()}" if rng.random() < 0.15 else f"{cur}{amount}"


def _card(rng: random.Random) -> str:
    first = rng.choice("3456")
    sep = rng.choice([" ", "-", ""])
    body = first + _digits("#" * 15, rng)
    return sep.join(body[i:i + 4] for i in range(0, 16, 4))


def _iban(rng: random.Random) -> str:
    country = rng.choice(["GB", "DE", "FR", "ES", "IT", "NL", "IE", "PL", "BE", "CH", "PT", "SE"])
    letters = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
    body = f"{country}{rng.randint(10, 99)} {letters} " + _digits("#### #### #### ##", rng)
    return body.replace(" ", "") if rng.random() < 0.3 else body


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return ":".join(f"{rng.randint(0, 65535):x}" for _ in range(4)) + "::" + f"{rng.randint(1, 255):x}"
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def _url(rng: random.Random) -> str:
    tld = rng.choice(["com", "co.uk", "io", "de", "net"])
    host = f"{rng.choice(DOMAIN_WORDS)}.{_org(rng).split()[0].lower()}.{tld}"
    path = "/".join(rng.choice(["reset", "kyc", "upload", "claims", "manage", "disputes", "verify", "sec",
                                "docs"])
                    for _ in range(rng.randint(1, 2)))
    return f"{rng.choice(['https://', 'http://', 'www.', ''])}{host}/{path}"


def _email(rng: random.Random) -> str:
    local = rng.choice(["support", "info", "claims", "noreply", "helpdesk", "accounts", "frontdesk", "hr"])
    return f"{local}@{_org(rng).split()[0].lower()}.{rng.choice(['com', 'co.uk', 'org', 'net'])}"


def _test(rng: random.Random) -> str:
    test = rng.choice(TESTS).replace("{n}", str(rng.randint(2, 180)))
    return test.replace("{d}", f"{rng.uniform(0.5, 9):.1f}")


OTHERS: dict[str, Callable[[random.Random], str]] = {
    "EMAIL": _email, "PHONE": lambda r: _digits(r.choice(PHONES), r), "DATE": _date, "DOB": _date,
    "TIME": lambda r: f"{r.randint(0, 23):02d}:{r.choice([0, 5, 10, 15, 20, 30, 40, 45, 55]):02d}",
    "MONEY": _money, "CARD": _card, "IBAN": _iban, "IP": _ip, "URL": _url, "TEST": _test,
    "SSN": lambda r: _digits(r.choice(["###-##-####", "### ## ####"]), r),
    "DRUG": lambda r: r.choice(DRUGS), "COND": lambda r: r.choice(CONDITIONS),
    "DOSE": lambda r: f"{r.choice(['5', '10', '20', '40', '75', '100', '250', '500'])} mg "
                      f"{r.choice(['OD', 'BD', 'TDS', 'QDS', 'PRN', 'nocte', 'daily'])}",
    "ORG": _org, "BANK": lambda r: r.choice(BANKS), "PRODUCT": lambda r: r.choice(PRODUCTS),
    "ID": lambda r: _digits(r.choice(IDS), r).replace("A", r.choice("KQXZ")).replace("B", r.choice("MPRT")),
    "NUM": lambda r: str(r.randint(1, 40)), "DIGITS": lambda r: _digits("####", r),
    "MONTH": lambda r: r.choice(MONTHS), "DAY": lambda r: r.choice(DAYS), "JOB": lambda r: r.choice(JOBS),
    "DEPT": lambda r: r.choice(DEPTS), "REL": lambda r: r.choice(RELATIONS),
    "AGE": lambda r: str(r.randint(19, 96)),
    "SEX": lambda r: r.choice("MF"), "ABBR": lambda r: r.choice(ABBREVIATIONS),
    "NAT": lambda r: r.choice(NATIONALITIES), "BRAND": _brand,
    "MERCHANT": lambda r: r.choice(MERCHANTS) if r.random() < 0.6 else _org(r).upper(),
    "WORD": lambda r: r.choice(WORDS),
    "CARDBRAND": lambda r: r.choice(["Visa", "Mastercard", "Amex", "Discover", "debit card", "credit card"]),
}


def other(kind: str, rng: random.Random) -> str:
    """Text for a template slot that is never a PERSON or LOCATION."""
    return OTHERS[kind](rng)
