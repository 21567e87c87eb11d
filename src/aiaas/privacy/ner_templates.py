"""Document templates for ``ner_data``, per style: an opening, body lines and a closing.

Slots: ``{P1}`` full name of person 1, ``{F1}`` first name, ``{L1}`` family name, ``{T1}`` a title
and the family name (only the name is labelled), ``{TF1}`` title and full name, ``{E1}`` an e-mail
made from the name (labelled O); ``{CITY}``, ``{COUNTRY}``, ``{ADDR}``, ``{AIRPORT}``,
``{STREET}``, ``{REGION}``, ``{PLACE}`` are LOCATION; every other slot is O material (see
``ner_words.OTHERS``). A ``¶`` is a line break inside one template.
"""

from __future__ import annotations


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip().replace("¶", "\n") for line in text.splitlines() if line.strip())


STYLES: dict[str, dict[str, tuple[str, ...]]] = {
    "clinical": {
        "open": _lines("""
            ADMISSION NOTE - {P1}, {AGE}{SEX}, admitted with {COND}.
            Patient: {P1}   DOB: {DOB}   {ID}
            DISCHARGE SUMMARY¶Patient: {P1}¶DOB: {DOB}
            Re: {P1}, DOB {DOB}
            Dear {TF2},
            Bed {NUM} - {T1}, {AGE}, {COND}.
            Clinic letter - {P1} ({DOB})
            Progress note: {P1} seen on the ward today.
            Handover: bed {NUM} is {P1}, {AGE}, day {NUM} post {COND}.
            Name: {P1}¶Hospital number: {ID}
            Pt {L1}, {AGE}{SEX}, known {COND}, presented via ED.
            Referral: {P1}, {AGE} years, {COND}.
            Triage note {TIME}: {F1} {L1} brought in by ambulance from {CITY}.
        """),
        "body": _lines("""
            Started on {DRUG} {DOSE} and {DRUG} {DOSE}.
            Reviewed by {T2} on the ward round; repeat bloods in {NUM} days.
            Lives with her husband {F2} at {ADDR}.
            Lives alone at {ADDR} with carers twice a day.
            Next of kin: {REL} {P2}, mobile {PHONE}.
            Discharged home to {ADDR}; {REL}'s phone {PHONE}.
            Follow-up in clinic in {NUM} weeks, GP {TF3} to check renal function.
            {REL} {F2} visiting at {NUM}, asking about transport home to {CITY}.
            Obs stable, pain {NUM}/10 on {DRUG} {DOSE}.
            {TEST}, {TEST}, {TEST}.
            Known to {T2} in the {COND} clinic.
            She was treated in {CITY} last year for {COND}.
            Returned from {COUNTRY} {NUM} days ago with fever.
            Contact {F1} on {PHONE} or e-mail {E1}.
            Counsellor: {P3}.
            Currently lives in student halls, {PLACE}.
            {DRUG} stopped because of {COND}.
            Allergies: {DRUG} (rash), {DRUG}.
            Seen by {TF2}, who agrees with the plan.
            Mother {F2} understands the plan and has a copy.
            He was transferred from {CITY} for specialist care under {T3}.
            Plan discussed with {P2} ({REL}), who will collect him.
            Community nurse to visit at {ADDR} on {DAY}.
            GP: {TF3}, {PLACE}.
            {F1} is {AGE} and works as a {JOB} in {CITY}.
            Wheeze plan given; {F1}'s {REL} {F2} will phone {PHONE} if worse.
            Hx of {COND}; on {DRUG} and {DRUG}.
            Had {COND} treated with {DRUG} in {MONTH}.
            Imaging booked for {DAY} at {TIME}; transport from {ADDR} arranged.
            {ABBR} showed {COND}; {ABBR} and {ABBR} requested.
            {ABBR} and {ABBR} reviewed; continue {DRUG} {DOSE}.
            Cannula re-sited this afternoon, {DRUG} {DOSE} due at {TIME}.
            {NAT}-speaking; interpreter booked for {DAY}.
            Emergency contact: {P2} ({REL}), {PHONE}.
            Bowel prep started {TIME}, {ABBR} from midnight, tolerating well.
            Daughter {F2} phoned this morning and will visit {DAY}.
            Wife {F2} visiting later, asking about discharge.
            Bed {NUM} - {P1}, {COND}, {DRUG} {DOSE} due at {TIME}.
            Bed {NUM} {T1}, mobilising with frame; son {F2} phoned.
        """),
        "close": _lines("""
            Kind regards,¶{TF3}
            Dictated by {TF3}, {JOB}.
            Signed: {P3}, {JOB}
            Copy to GP at {EMAIL}.
            {T3}¶{DEPT}
            Yours sincerely,¶{P3}
        """),
    },
    "bank": {
        "open": _lines("""
            Dear {TF1},
            Hello,
            To whom it may concern,
            Hi {F1},
            Account application - individual.¶Name: {P1}¶SSN: {SSN}¶Date of birth: {DOB}¶Address: {ADDR}
            Re: dispute {ID}.
            Dear Sir or Madam,
            Name: {P1}¶Account: {IBAN}
            {BANK}: Did you attempt a payment of {MONEY} to {MERCHANT}? Reply Y or N.
            Payee: {P2}¶Amount: {MONEY}¶Reference: {WORD}
        """),
        "body": _lines("""
            Please transfer {MONEY} from my current account to {P2}, IBAN {IBAN}, reference "{WORD}".
            I am disputing a charge of {MONEY} from {ORG} posted on {DATE} to my card {CARD}.
            The order was never delivered to {ADDR}.
            I was at home in {CITY} the whole evening.
            My {CARDBRAND} {CARD} was used at {ORG} in {CITY} on {DATE}.
            We still need proof of address for {ADDR} dated within the last three months.
            We could not match the SSN ({SSN}) with the name {P1} and date of birth {DOB}.
            Your salary account {IBAN} has been linked successfully.
            The payee, {P2}, banks with {BANK} in {CITY}.
            Please upload documents via {URL}.
            This is {F2} from {ORG}.
            Authorised by {P2}, {JOB}. Second signatory {P3} approved it in the portal.
            Please pay {MONEY} to our supplier in {COUNTRY}, account {IBAN}. Invoice {ID}.
            Standing orders due that day will be processed on {DAY}.
            Card payments and cash withdrawals are not affected.
            The merchant has {NUM} days to respond.
            Call us at {PHONE} if you did not make this payment.
            My landlord {P2} asked for the deposit to go to {IBAN}.
            The transfer to {F2} in {CITY} has not arrived after {NUM} days.
            I moved from {CITY} to {ADDR} in {MONTH}; please update my address.
            Two payments of {MONEY} went to {ORG} while I was in {COUNTRY}.
            Joint account holders: {P1} and {P2}.
            Our webshop saw {NUM} orders shipped to {ADDR} from IP {IP}.
            A provisional credit of {MONEY} has been applied to your {CARDBRAND} ending {DIGITS}.
            {T2} from our fraud team will call you from {PHONE}.
            The card was declined at {AIRPORT} on {DATE}.
            Beneficiary: {P2}, {ADDR}.
            A payment of {MONEY} to {MERCHANT} was declined on {DATE}.
            Card ending {DIGITS}: {MERCHANT} {MONEY} on {DATE}, {MERCHANT} {MONEY} on {DATE}.
            Thank you for opening an account with {BRAND}.
            The card was used online on the night of {DATE}, totalling {MONEY}.
            The {NAT} bank charged a fee of {MONEY}.
            I was charged twice for the same stay in {CITY} ({ID}, {MONEY} each).
            Attn: {P1}, {ADDR}
            Please confirm your residential address, {ADDR}, and your mobile number {PHONE}.
        """),
        "close": _lines("""
            Kind regards,¶{P1}
            Sincerely,¶{P1}¶{PHONE}
            {P1}, {E1}
            - {F3}, {DEPT}
            {DEPT}
            Thanks,¶{F1}
            Best,¶{F1} {L1}¶{PHONE}
            Regards,¶{TF1}
        """),
    },
    "insurance": {
        "open": _lines("""
            Motor claim form. Policyholder: {P1}. Policy no. {ID}.
            Travel insurance claim for {P1}, policy {ID}.
            Homeowner claim {ID}: {COND} is not covered, water damage is.
            Claim {ID} - claimant {P1}.
            Life insurance beneficiary change. Insured: {P1}, DOB {DOB}.
            Pet insurance claim for Biscuit, owner {P1}.
        """),
        "body": _lines("""
            On {DATE} my parked car was hit by a van outside {ADDR}.
            The other driver, {P2}, gave his phone as {PHONE}.
            I fell ill in {CITY} on the third day of the trip and was treated at a private clinic.
            Water came through the ceiling at {ADDR} on {DATE}.
            Adjuster {P3} inspected the property on {DATE}.
            New primary beneficiary: {P2} ({REL}), 100%.
            Reported by {P1}; co-insured {P2}.
            Please pay the repair costs to {IBAN}.
            Mailing address: {ADDR}.
            Receipts uploaded at {URL}.
            My flight from {AIRPORT} to {CITY} was cancelled and I paid {MONEY} for a hotel.
            The incident happened on {STREET} near the junction with the main road.
            My luggage was lost between {CITY} and {CITY}.
            Witness: {P3}, {PHONE}.
            The vet in {CITY} charged {MONEY} for treatment.
            Loss adjuster {T3} will visit on {DAY}.
            Claimant email {E1}, phone {PHONE}.
        """),
        "close": _lines("""
            Signed electronically by {P1}.
            {P1}¶{E1}
            Claims team, {ORG}
        """),
    },
    "police": {
        "open": _lines("""
            Incident {ID}. At approx {TIME} officers attended {PLACE} after a report of a burglary.
            Witness statement: My name is {P1} and I live at {ADDR}.
            Report ref {ID}: victim {P1}, aged {AGE}.
            Crime report {ID} - complainant {P1} (DOB {DOB}).
            Statement of {P1}, taken at {CITY} police station on {DATE}.
        """),
        "body": _lines("""
            Complainant {P1} stated his bag was taken from his {PRODUCT}.
            Witness {P2} saw two males leave on foot towards {STREET}.
            {T3} collected CCTV from the shop on {STREET}.
            The caller claimed to be from {BANK} and used {PHONE}.
            Victim address: {ADDR}.
            I saw a man trying car doors along {STREET} at about {TIME}.
            The suspect, known locally as {F2}, was arrested in {CITY}.
            {P2} ({AGE}) of {ADDR} was interviewed under caution.
            Stolen items were recovered in {CITY} on {DATE}.
            {TF3} is the officer in charge; call {PHONE}.
            The vehicle was later found abandoned at {PLACE}.
            The victim's {REL}, {P2}, reported her missing at {TIME}.
            She was last seen at {AIRPORT} boarding a flight to {CITY}.
        """),
        "close": _lines("""
            Crime number issued to complainant.
            {TF3}, {CITY} CID
            Signed: {P1}
        """),
    },
    "hr": {
        "open": _lines("""
            Hi {F1},
            Dear {TF1},
            Subject: Reference request for {P1}
            {F1}, following our chat I have logged your leave.
            Subject: Offer of employment - {P1}
            To: {P1}¶From: {P2}¶Re: probation review
        """),
        "body": _lines("""
            Welcome aboard! Please check the details we hold and reply by {DAY}.
            SSN: {SSN}¶Date of birth: {DOB}¶Home address: {ADDR}
            Your laptop will be shipped to {ADDR} on {DAY}.
            {F1} worked with us from 2019 to 2023 as a {JOB} in our {CITY} office.
            {F2} will cover client calls for the {CITY} team while you are away.
            Your expense claim for the {CITY} trip ({ID}, {MONEY}) has been approved.
            It will be paid to {IBAN} with the {MONTH} payroll.
            Please contact me at {E2} or on {PHONE}.
            Your manager will be {P2}, based in {CITY}.
            The role is based at our office at {ADDR}.
            {P2} from {DEPT} will send your contract.
            We are pleased to offer you the position of {JOB} starting {DATE}.
            Relocation from {COUNTRY} to {CITY} is covered up to {MONEY}.
            {F1} was reliable and well liked by clients.
            Benefits enrolment opens on your 30th day.
        """),
        "close": _lines("""
            Best,¶{P2}, {DEPT}
            Best regards,¶{P2}
            - {F2}
            Thanks,¶{F2} ({JOB})
            Kind regards,¶{TF2}¶{DEPT}
            Regards,¶{P2}¶{DEPT}, {ORG}
            {P2}¶{JOB}¶{ORG}
        """),
    },
    "school": {
        "open": _lines("""
            Dear parents and carers,
            Hi {T1},
            Dear {TF1},
            Hello {F1}'s family,
        """),
        "body": _lines("""
            {F2} bumped his head at lunch today; an ice pack was applied.
            The trip to {CITY} is on {DAY}; please return consent slips.
            If your child needs medication on the day, let {T3} know at {EMAIL}.
            {F2} has been chosen to read at the {MONTH} assembly.
            Pick-up is from {PLACE} at {TIME}.
            {F2} and {F3} worked brilliantly on their {COUNTRY} project.
            The coach leaves from {STREET} at {TIME} sharp.
            Please call the office on {PHONE}.
            Full itinerary: {URL}
        """),
        "close": _lines("""
            Thanks, {F3} (TA, Class {NUM}B)
            {TF3}, Head of Year
            Many thanks,¶{T3}
        """),
    },
    "travel": {
        "open": _lines("""
            Booking confirmation PNR {ID}
            Your reservation is confirmed. Guest: {P1}.
            Hi {F1}, your trip is booked!
            Itinerary for {P1}
            E-TICKET¶PASSENGER: {P1}
        """),
        "body": _lines("""
            Passenger 1: {P1} (DOB {DOB})¶Passenger 2: {P2}
            Flight {ID} {CITY} to {AIRPORT}, departs {TIME}, arrives {TIME}.
            {AIRPORT} to {CITY}, departs {TIME}, seat {NUM}A.
            Address: {ADDR}.
            The hotel is at {ADDR}, check-in from {TIME}.
            Train from {CITY} to {CITY}, coach {NUM}, seats {NUM} and {NUM}.
            Tickets for you and {F2} are booked.
            Check-in {DATE}, check-out {DATE}, {NUM} adults, sea-view double.
            PASSENGER: {L1}/{F1} MR¶FROM: {AIRPORT} TO: {CITY}
            Lead guest: {TF1}; second guest: {P2}.
            Total {MONEY} charged to {CARD}.
            For changes reply to {EMAIL} or call {PHONE}.
            Manage your booking at {URL}.
            Your driver {F3} will meet you at {AIRPORT} arrivals.
            Tour of {REGION} with guide {P3} on {DAY}.
            Layover in {CITY} ({COUNTRY}), {NUM} hours.
            Contact email {E1}, phone {PHONE}.
            Free cancellation until 48 hours before arrival.
        """),
        "close": _lines("""
            Have a good trip!
            {ORG} Travel team
            Safe travels, {F3}
        """),
    },
    "it_security": {
        "open": _lines("""
            [ALERT] {NUM} failed SSH logins for user 'deploy' from {IP}.
            Ticket {ID}: {P1} reports the VPN drops every {NUM} minutes.
            Security incident {ID} - reported by {P1}
            [WARN] Impossible travel for {E1}: sign-ins from {CITY} and {CITY} within {NUM} minutes.
        """),
        "body": _lines("""
            Source geolocates to {CITY}, {COUNTRY}.
            Last successful login came from {IP} yesterday at {TIME}.
            Ticket assigned to {P2}.
            Runbook: {URL}
            His laptop gets {IP} on the office LAN but the gateway at {IP} logs "peer timeout".
            Note from {P2}: {IP} is hammering /login, please add it to the rate limiter.
            Firmware is {ID}; please check MTU settings.
            Contact: {E1}
            User {P1} ({E1}) clicked the link from {IP}.
            Escalated to {F3} on the SOC rota.
            The {PRODUCT} server in our {CITY} data centre was patched at {TIME}.
            {IP} - - [{DATE}] "POST /login HTTP/1.1" 401 312
        """),
        "close": _lines("""
            -- {F3}, {DEPT}
            Closed by {P3}.
        """),
    },
    "support_chat": {
        "open": _lines("""
            Agent: Thanks for contacting {ORG}, my name is {F2}. How can I help?
            Agent: Hi there, I'm {F2}. What can I do for you today?
            Agent: Hello, you're chatting with {F2} from {DEPT}.
            Customer: hi, I need help with my account
        """),
        "body": _lines("""
            Customer: hi my bill doubled this month, account is under {P1}
            Customer: its {F1} {L1}, email {E1}
            Customer: the address is {ADDR}
            Customer: i moved to {CITY} last month, can you update it
            Agent: Could you confirm the billing address?
            Agent: Thank you. And a contact number?
            Customer: {PHONE}
            Customer: card is {CARD}
            Agent: I've opened case {ID}; a replacement will ship in 2 days.
            Customer: my daughter {F3} uses the second line
            Customer: thanks {F2}
            Agent: Sorry about that! Which card did you use?
            Customer: the parcel was meant to go to {ADDR} but it says delivered in {CITY}
            Agent: Got it, {F1}. I can see roaming charges from your trip to {COUNTRY}.
            Customer: can you send it to my work instead, {ADDR}
            Agent: I'll transfer you to {F3} in billing.
            Customer: {F1} here again, still not sorted
            Customer: ok thanks, will do
            Agent: Is there anything else I can help with?
            Agent: Sorry about that! I'm {F2} from {DEPT}. Which card did you use?
            Agent: Hi, this is {F2}. What's the old address?
            Customer: it's under my husband's name, {P3}
            Customer: Hi, I'm {P1}, I called yesterday about the refund
        """),
        "close": _lines("""
            Agent: Thanks {F1}, have a great day!
            Customer: perfect, thanks {F2}
            Agent: You're welcome. {F2} signing off.
        """),
    },
    "sms": {
        "open": _lines("""
            hey its {F1}, new number!! save it {PHONE}
            hi its {F1} from the {WORD} group
            {F1} here
            Hi {F1},
            Reminder: your appointment with {TF2} is on {DAY} at {TIME}.
        """),
        "body": _lines("""
            running 10 min late, traffic in {CITY} is mad
            can u send the money to my acct {IBAN} ta
            meet at {PLACE} at {TIME}?
            im at {ADDR} now, come round
            {F2} says hi, we're landing at {AIRPORT} at {TIME}
            tell {F2} i said happy birthday!!
            pick up {F3} from {STREET} after school pls
            bring a jacket, it's freezing in {CITY}
            going to {COUNTRY} next week with {F2}
            link for the call tmrw {URL}
            Your code is {DIGITS}. Do not share it.
            Your parcel from {ORG} is out for delivery to {STREET}.
            stuck on the bridge, the whole street is blocked
            meet u at the station or the park? im outside the shop
            save me a seat at the back, order me the usual
            come to the office after lunch, we're on the 3rd floor
            {F2} and {F3} are coming too, is that ok
        """),
        "close": _lines("""
            c u at {TIME}!!
            - {F1}
            x {F1}
            thx
        """),
    },
    "email": {
        "open": _lines("""
            Dear {TF1},
            Hi {F1},
            Hello {F1} and {F2},
            Good morning {F1},
            Dear {F1},
            Subject: Meeting in {CITY}¶Hi {F1},
            {F1} -
        """),
        "body": _lines("""
            It was great to meet you at the conference in {CITY}.
            I've copied {P2}, who runs our {CITY} office.
            Could you send the signed contract to {ADDR}?
            {F2} will join us from {COUNTRY} by video.
            The venue is {ADDR}; parking is on {STREET}.
            I'm out of office until {DATE}; for urgent matters contact {P2} at {E2}.
            Please find attached the invoice for {MONEY}.
            My flight lands at {AIRPORT} on {DAY}, so {DAY} works.
            Thanks to {F2} and {F3} for pulling this together.
            We are moving our head office from {CITY} to {CITY} in {MONTH}.
            Let me know if {DAY} at {TIME} suits.
            {T2} asked me to pass on her thanks.
            I'll be in {REGION} visiting my {REL} that week.
            From: {P1} <{E1}>¶To: {P2} <{E2}>
            Our {NAT} colleagues will join from the {CITY} office.
            c/o {P2}, {ADDR}
            {F2}, can you share the slides before {DAY}?
            {F2} - could you log the actions in {PRODUCT}?
            Notes are in {PRODUCT}; {F2} posted the link in {PRODUCT}.
        """),
        "close": _lines("""
            Regards,¶{P3}
            Best wishes,¶{F3}
            Kind regards,¶{P3}¶{JOB}, {ORG}
            Cheers,¶{F3}
            Thanks,¶{TF3}
            Sent from my {PRODUCT}
        """),
    },
    "review": {
        "body": _lines("""
            Stayed three nights in {CITY}, the host {F1} was lovely and the flat on {STREET} was spotless.
            Our guide {F1} made the {REGION} tour brilliant, highly recommend!
            Ordered a {PRODUCT} from {ORG}, arrived broken. {F1} in support sorted a refund fast.
            terrible service at the {CITY} branch, {F1} at the desk was rude
            Great little cafe near {STREET}. Ask for {F1}, she makes the best flat white.
            The {PRODUCT} stopped working after a week. Do not buy.
            5 stars to {P1} and the team at {ORG}!
            Drove up from {CITY} for this and it was worth it.
        """),
    },
    "legal": {
        "open": _lines("""
            IN THE MATTER OF the estate of {P1}, deceased, late of {ADDR}.
            BETWEEN: {P1} (Claimant) and {ORG} (Defendant)
            This tenancy agreement is made on {DATE} between {P1} ("the Landlord") and {P2} ("the Tenant").
            Our ref: {ID}. Your ref: {ID}.
        """),
        "body": _lines("""
            The property is {ADDR}.
            The executor, {P2}, of {ADDR}, is authorised to act.
            We act for {TF1} in connection with the sale of {ADDR}.
            Rent of {MONEY} is payable on the first day of each month to {IBAN}.
            The hearing is listed at {CITY} County Court on {DATE} before {T3}.
            Witnessed by {P3}, {JOB}, of {CITY}.
            The deed was signed in {CITY}, {COUNTRY}.
            Clause {NUM} of the agreement applies.
        """),
        "close": _lines("""
            Yours faithfully,¶{ORG}
            {P3}¶Solicitor
        """),
    },
    "delivery": {
        "body": _lines("""
            Your order {ID} has been dispatched to {ADDR}.
            Delivery attempted at {TIME}; we left a card. Collect from {PLACE}.
            Ship to: {P1}¶{ADDR}¶{PHONE}
            The courier {F2} will arrive between {TIME} and {TIME}.
            Returns: send to {ORG}, {ADDR}.
            Order for {P1}: 2 x {PRODUCT}, {MONEY}.
            Parcel held at the depot in {CITY}. Tracking {ID}.
        """),
    },
    "negative": {
        "body": _lines("""
            Release {ID} fixes the memory leak in the export worker.
            Upgrade {PRODUCT} and rotate the staging TLS certificates.
            Scheduled maintenance: online banking is unavailable from {TIME} to {TIME} on {DAY}.
            Lab panel: {TEST}, {TEST}, {TEST}. No action required.
            Handover bay {NUM}: bed 1 post-op, obs stable. Bed 2 NBM from {TIME}.
            Our {MONTH} sale starts {DAY}: 20% off everything at {ORG}!
            {BANK} will never ask for your PIN by text.
            Known issue: ticket {ID}, CSV import drops trailing zeros.
            Restart the {PRODUCT} service after applying patch {ID}.
            Take {DRUG} {DOSE} with food; avoid alcohol while on {DRUG}.
            The health endpoint should now report build {ID}.
            Quarterly results: revenue up {NUM}% at {ORG}.
            Your {PRODUCT} subscription renews on {DATE} for {MONEY}.
            {ORG} and {ORG} announced a merger on {DAY}.
            Meeting notes: agreed to move the launch to {MONTH}; action items in {PRODUCT}.
            Sample {ID} received {TIME}, reported {TIME}.
            Order {ID} says delivered but nothing came.
            Daily transfer limits remain {MONEY}.
            Check-in {DATE}, check-out {DATE}, {NUM} adults.
            Roaming charges from {NUM} to {NUM} {MONTH} were refunded.
            Download the {BRAND} app to manage your plan.
            Order the {BRAND} combo with extra fries, no onions.
            {NAT} and {NAT} versions of the form are available.
            {ABBR} and {ABBR} checks done at {TIME}.
            Welcome to {BRAND}! Your {BRAND} account is ready.
            The {BRAND} team has reviewed ticket {ID}.
            Model {BRAND} {NUM} is back in stock.
        """),
    },
}
CASUAL_STYLES = frozenset({"sms", "support_chat", "review"})
LINE_STYLES = frozenset({"support_chat"})

NEGATIVE_LINES = _lines("""
    Will you be able to make it on {DAY}?
    Reading the latest guidance, no changes are needed.
    Mark the form as urgent.
    Grace period ends on {DATE}.
    Hope this helps!
    Bill payment is due on {DATE}.
    Please Note: this mailbox is not monitored.
    Happy Christmas and a good New Year to all.
    Easter opening hours apply.
    Black Friday deals end at midnight.
    Thank you for choosing {ORG}.
    Diagnosis: {COND}.
    Medications: {DRUG} {DOSE}, {DRUG} {DOSE}.
    Plan: review in {NUM} weeks.
    Subject: Re: {ID}
    Reference: {ID}
    Employer: {ORG}.
    Payment reference {ID}, {MONEY}.
    Tracking number {ID} still shows "label created".
    Sent from {PRODUCT}.
    Dear Customer,
    Dear Sir or Madam,
    Hi team,
    IMPORTANT NOTICE
    Terms And Conditions Apply.
    Summer Term starts in {MONTH}.
    Frank feedback welcome.
    Sterling weakened against the euro.
    Joy, Hope and Faith were the themes of the {MONTH} assembly.
    Chase the supplier for an update.
    Booking ref {ID}.
    {DRUG} was increased to {DOSE}.
    Total: {MONEY}.
                Thank you for banking with {BRAND}.
                {NAT} citizens need a visa.
                Received on {DAY} {DATE}.
                {ABBR} booked for {DAY}.
    {DAY}'s meeting moves to {TIME}.
    Log it in {PRODUCT} and mark the ticket as Done.
    Shared in {PRODUCT}; see the thread in {PRODUCT}.
    Saved in {PRODUCT} under Finance.
    Posted on {PRODUCT} yesterday.
    {MONTH}'s figures are in.
                Payment of {MONEY} received on {DATE}, thank you.
    {BANK} app update available.
""")
