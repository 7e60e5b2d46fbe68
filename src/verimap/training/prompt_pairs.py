"""Prompt pairs of the semantic-cache kind: a short question or command, a rewording that means the same, and near
misses that share most of its words but ask for something else.

Each item is one action on one thing ("enable" + "dark mode in the mail app"). Its positives reword the frame
("How do I" / "How can I" / "Is there a way to"), the verb ("enable" / "turn on" / "switch on") and the thing
("dark mode in the mail app" / "the mail app's dark mode"); its near misses keep the frame and the thing and change
one element of meaning, each recorded with its kind:

- ``antonym``: the opposite action ("enable" / "disable", "add" / "remove", "upload" / "download");
- ``negation``: the request turned around ("How do I stop getting ..." is not "How do I keep getting ...");
- ``direction``: source and target swapped ("from savings to checking");
- ``role``: who acts on whom ("Can my manager see my calendar?" / "Can I see my manager's calendar?");
- ``number`` / ``unit``: another quantity or unit ("at 7 am" / "at 8 am", "5 miles" / "5 km");
- ``entity``: another thing of the same sort ("on my iPhone" / "on my Android phone");
- ``temporal`` / ``comparative``: "before" / "after", "cheaper" / "more expensive".

Things, numbers and entities are split by item (``split_of`` of the item's group), so no dev item's thing is
trained on. Everything here is written for verimap (no outside text): it may ship.

>>> rows = prompt_pairs(seed=0)
>>> sorted({r.kind for r in rows if r.label == 0})[:4]
['antonym', 'comparative', 'direction', 'entity']
"""

from __future__ import annotations

import random

from verimap.training.examples import Example, split_of

ASK = [
    "How do I {v}?",
    "How can I {v}?",
    "How to {v}?",
    "Is there a way to {v}?",
    "What's the way to {v}?",
    "Can I {v}?",
    "Where do I go to {v}?",
    "I want to {v}.",
    "Help me {v}.",
    "Please {v}.",
    "I need to {v}.",
    "Is it possible to {v}?",
    "Steps to {v}?",
    "Show me how to {v}.",
]

# (verb forms that mean the same, verb forms of the opposite action)
ACTIONS = [
    (["enable", "turn on", "switch on", "activate"], ["disable", "turn off", "switch off", "deactivate"]),
    (["add", "put"], ["remove", "delete", "take off"]),
    (["increase", "raise", "turn up"], ["decrease", "lower", "reduce", "turn down"]),
    (["lock", "secure"], ["unlock"]),
    (["show", "display", "unhide"], ["hide"]),
    (["connect", "link"], ["disconnect", "unlink"]),
    (["subscribe to", "sign up for"], ["unsubscribe from", "cancel my subscription to"]),
    (["upload", "send up"], ["download"]),
    (["install", "set up"], ["uninstall", "remove"]),
    (["block", "stop"], ["unblock", "allow"]),
    (["mute", "silence"], ["unmute"]),
    (["pin", "keep at the top"], ["unpin"]),
    (["start", "begin"], ["stop", "end"]),
    (["follow"], ["unfollow"]),
    (["freeze", "pause"], ["unfreeze", "resume"]),
    (["open"], ["close"]),
    (["accept", "approve"], ["decline", "reject"]),
    (["import", "bring in"], ["export"]),
    (["expand", "make bigger"], ["shrink", "make smaller"]),
    (["archive"], ["unarchive", "restore"]),
]
# (the thing as it is said, another way to say it, the actions that make sense for it: ACTIONS' first verbs)
THINGS = [
    ("dark mode in the mail app", "the mail app's dark mode", "enable show"),
    ("two-factor authentication", "2FA", "enable"),
    ("notifications for the calendar", "calendar notifications", "enable mute block show"),
    ("the VPN on my laptop", "my laptop's VPN", "enable connect install start"),
    ("location sharing", "sharing my location", "enable start"),
    ("autoplay for videos", "video autoplay", "enable start"),
    ("Bluetooth on my phone", "my phone's Bluetooth", "enable connect"),
    ("my work email account", "the email account for work", "add connect lock open archive"),
    ("the firewall", "the firewall protection", "enable install start"),
    ("cookies in the browser", "browser cookies", "enable block accept"),
    ("read receipts in chat", "chat read receipts", "enable show"),
    ("the volume of alerts", "alert volume", "increase"),
    ("the brightness of the screen", "screen brightness", "increase"),
    ("the font size in the reader", "the reader's font size", "increase"),
    ("automatic updates", "auto-updates", "enable start freeze"),
    ("the parental controls", "parental control settings", "enable lock"),
    ("the subtitles on this movie", "this movie's subtitles", "enable show"),
    ("the keyboard backlight", "the backlit keyboard", "enable increase"),
    ("a payment card to my wallet", "a card to my digital wallet", "add"),
    ("a contact to my favourites", "someone to my favourite contacts", "add"),
    ("a printer to my laptop", "a printer on my laptop", "add connect install"),
    ("the shared folder for the team", "the team's shared folder", "open lock archive"),
    ("the weekly newsletter", "the newsletter that comes every week", "subscribe to"),
    ("the podcast about history", "the history podcast", "subscribe to follow"),
    ("the Wi-Fi hotspot", "the hotspot", "enable start connect"),
    ("the printer driver", "the driver for the printer", "install"),
    ("the meeting recording", "the recording of the meeting", "start upload archive"),
    ("voice control", "voice commands", "enable start"),
    ("camera access for this app", "this app's camera access", "enable block accept"),
    ("contactless payments", "tap to pay", "enable block"),
    ("the backup of my photos", "my photo backup", "start upload freeze"),
    ("the sidebar", "the side panel", "show open expand"),
    ("the night light on my monitor", "my monitor's night light", "enable"),
    ("the group chat with my family", "my family group chat", "mute pin archive"),
    ("this conversation", "this chat thread", "mute pin archive"),
    ("my account", "my user account", "lock freeze"),
    ("my credit card", "my card", "lock freeze block"),
    ("the spending limit on my card", "my card's spending limit", "increase"),
    ("the font size of my emails", "my email text size", "increase"),
    ("my contacts from a CSV file", "contacts from a CSV", "import"),
    ("the invitation to the event", "the event invitation", "accept"),
    ("the friend request from Sam", "Sam's friend request", "accept"),
    ("the chart in the report", "the report's chart", "expand show"),
    ("that artist", "the artist", "follow block mute"),
]
# Templates with two slots whose order carries meaning: (template, slot filler pairs)
DIRECTIONAL = [
    (
        "How do I transfer money from {a} to {b}?",
        [("savings", "checking"), ("my card", "my bank account"), ("PayPal", "my bank"), ("euros", "dollars")],
    ),
    (
        "How do I move files from {a} to {b}?",
        [("my phone", "my laptop"), ("Dropbox", "Google Drive"), ("the SD card", "internal storage")],
    ),
    (
        "Convert {a} to {b}.",
        [("miles", "kilometres"), ("Celsius", "Fahrenheit"), ("pounds", "kilograms"), ("PDF", "Word"), ("JPEG", "PNG")],
    ),
    ("Translate this from {a} to {b}.", [("English", "Spanish"), ("French", "German"), ("Japanese", "Korean")]),
    ("What's the flight time from {a} to {b}?", [("Paris", "Rome"), ("London", "New York"), ("Tokyo", "Seoul")]),
    ("Can I switch my plan from {a} to {b}?", [("monthly", "yearly"), ("basic", "premium")]),
]
DIRECTIONAL_PARAPHRASE = {  # the same request in other words, same slot order
    "How do I transfer money from {a} to {b}?": "How can I send money to {b} from {a}?",
    "How do I move files from {a} to {b}?": "What's the way to copy files from {a} over to {b}?",
    "Convert {a} to {b}.": "How many {b} is that in {a}? Convert {a} into {b}.",
    "Translate this from {a} to {b}.": "Can you put this {a} text into {b}?",
    "What's the flight time from {a} to {b}?": "How long is the flight to {b} if I leave from {a}?",
    "Can I switch my plan from {a} to {b}?": "Is it possible to change to a {b} plan from a {a} one?",
}
ROLES = [  # (question, same meaning, role-swapped)
    ("Can my manager see my calendar?", "Is my calendar visible to my manager?", "Can I see my manager's calendar?"),
    ("Can guests edit my documents?", "Are my documents editable by guests?", "Can I edit the guests' documents?"),
    (
        "Does the landlord pay the tenant's deposit?",
        "Is the tenant's deposit paid by the landlord?",
        "Does the tenant pay the landlord's deposit?",
    ),
    (
        "Can the admin remove members from the group?",
        "Can members be removed from the group by the admin?",
        "Can members remove the admin from the group?",
    ),
    (
        "Will the bank refund the merchant?",
        "Will the merchant get a refund from the bank?",
        "Will the merchant refund the bank?",
    ),
    (
        "Can my kids message my contacts?",
        "Are my contacts reachable by my kids through messages?",
        "Can my contacts message my kids?",
    ),
    (
        "Does the seller pay shipping for the buyer?",
        "Is shipping paid by the seller for the buyer?",
        "Does the buyer pay shipping for the seller?",
    ),
    (
        "Can the teacher see the students' grades?",
        "Are the students' grades visible to the teacher?",
        "Can the students see the teacher's grades?",
    ),
    (
        "Can my partner access my account?",
        "Is my account accessible to my partner?",
        "Can I access my partner's account?",
    ),
    (
        "Does the employer match the employee's contributions?",
        "Are the employee's contributions matched by the employer?",
        "Does the employee match the employer's contributions?",
    ),
]
NUMBERED = [  # (template with {n}, unit, alternatives for the unit)
    ("Set an alarm for {n} am.", "", ""),
    ("Remind me in {n} minutes.", "minutes", "hours"),
    ("Book a table for {n} people.", "", ""),
    ("Is a {n} mile run too long for a beginner?", "mile", "kilometre"),
    ("How much is a {n} day pass?", "day", "week"),
    ("Order {n} pizzas for the party.", "", ""),
    ("Split the bill {n} ways.", "", ""),
    ("Schedule the backup every {n} hours.", "hours", "days"),
    ("Can I withdraw {n} dollars at once?", "dollars", "euros"),
    ("Cook the pasta for {n} minutes.", "minutes", "seconds"),
]
ENTITIES = [  # (template, entity, same entity said otherwise, another entity)
    ("How do I take a screenshot on my {e}?", "iPhone", "Apple phone", "Android phone"),
    ("Does the app work on {e}?", "Windows", "a Windows PC", "Linux"),
    ("What's the weather in {e} tomorrow?", "Paris", "the French capital", "Berlin"),
    ("How do I pay with {e}?", "Apple Pay", "Apple's wallet", "Google Pay"),
    ("Can I bring my {e} on the plane?", "cat", "pet cat", "dog"),
    ("Is the museum open on {e}?", "Sunday", "Sundays", "Monday"),
    ("How do I reset my {e} password?", "Gmail", "Google mail", "Outlook"),
    ("Where is the nearest {e}?", "pharmacy", "drugstore", "hospital"),
    ("How do I cancel my {e} subscription?", "Netflix", "Netflix membership", "Spotify"),
    ("Which charger fits my {e}?", "MacBook", "Apple laptop", "Dell laptop"),
]
TEMPORAL = [  # (template, word, its opposite)
    ("Remind me to call Anna {w} the meeting.", "before", "after"),
    ("Should I take the pill {w} eating?", "before", "after"),
    ("Can I check in {w} noon?", "before", "after"),
    ("Do I pay tax on income earned {w} I moved abroad?", "before", "after"),
    ("Is it better to stretch {w} running?", "before", "after"),
]
COMPARATIVE = [  # (question, same meaning, opposite comparison)
    (
        "Is the train cheaper than the bus?",
        "Does the train cost less than the bus?",
        "Is the train more expensive than the bus?",
    ),
    (
        "Which is faster, Wi-Fi or Ethernet?",
        "Between Wi-Fi and Ethernet, which one is quicker?",
        "Which is slower, Wi-Fi or Ethernet?",
    ),
    (
        "Is the new model lighter than the old one?",
        "Does the new model weigh less than the old one?",
        "Is the new model heavier than the old one?",
    ),
    (
        "Are flights cheaper on Tuesdays?",
        "Do flights cost less on Tuesdays?",
        "Are flights more expensive on Tuesdays?",
    ),
    (
        "Is the basic plan better than the premium plan?",
        "Does the basic plan beat the premium plan?",
        "Is the basic plan worse than the premium plan?",
    ),
]
NEGATED = [  # (request, same meaning, the request turned around)
    (
        "How do I stop getting marketing emails?",
        "How can I opt out of marketing emails?",
        "How do I keep getting marketing emails?",
    ),
    (
        "Why can't I log in to my account?",
        "What is preventing me from logging in to my account?",
        "Why can I log in to my account?",
    ),
    ("I don't want to share my location.", "I'd rather not share my location.", "I want to share my location."),
    ("My card is not working abroad.", "My card doesn't work abroad.", "My card is working abroad."),
    ("The app won't open on my phone.", "The app doesn't open on my phone.", "The app opens on my phone."),
    (
        "How do I make sure nobody can see my posts?",
        "How can I hide my posts from everyone?",
        "How do I make sure everybody can see my posts?",
    ),
    ("Why did my payment fail?", "What made my payment not go through?", "Why did my payment go through?"),
]


def _ask(rng: random.Random, verb: str, thing: str, frame: str | None = None) -> str:
    frame = frame or rng.choice(ASK)
    return frame.format(v=f"{verb} {thing}")


def prompt_pairs(seed: int = 0) -> list[Example]:
    """Every generated pair (label 1 = same request, 0 = near miss), grouped by item for the dev split."""
    rng = random.Random(seed)
    out: list[Example] = []

    def add(a: str, b: str, label: int, kind: str, group: str) -> None:
        if a != b:
            out.append(Example(a, b, label, kind if label == 0 else "paraphrase", "prompts", f"prompts:{group}"))

    actions = {same[0]: (same, opposite) for same, opposite in ACTIONS}
    for thing, other_thing, fits in THINGS:
        for verb in fits.replace("subscribe to", "subscribe").split(" "):
            same, opposite = actions[{"subscribe": "subscribe to"}.get(verb, verb)]
            group = thing
            for _ in range(3):
                frame = rng.choice(ASK)
                anchor = _ask(rng, same[0], thing, frame)
                add(anchor, _ask(rng, rng.choice(same), rng.choice([thing, other_thing])), 1, "", group)
                add(anchor, _ask(rng, rng.choice(opposite), thing, frame), 0, "antonym", group)
                add(anchor, _ask(rng, rng.choice(opposite), rng.choice([thing, other_thing])), 0, "antonym", group)
    for template, fillers in DIRECTIONAL:
        for a, b in fillers:
            group = f"{template}|{a}|{b}"
            anchor = template.format(a=a, b=b)
            add(anchor, DIRECTIONAL_PARAPHRASE[template].format(a=a, b=b), 1, "", group)
            add(anchor, template.format(a=b, b=a), 0, "direction", group)
            add(anchor, DIRECTIONAL_PARAPHRASE[template].format(a=b, b=a), 0, "direction", group)
    for q, same, swapped in ROLES:
        add(q, same, 1, "", q)
        add(q, swapped, 0, "role", q)
        add(same, swapped, 0, "role", q)
    for template, unit, other_unit in NUMBERED:
        n = rng.choice([2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30])
        group = template
        anchor = template.format(n=n)
        add(anchor, template.format(n=n).replace(f" {n} ", f" {n} ").replace(".", " please."), 1, "", group)
        add(anchor, template.format(n=n + rng.choice([1, 2, 5])), 0, "number", group)
        if unit:
            add(anchor, anchor.replace(unit, other_unit), 0, "unit", group)
    for template, e, same_e, other_e in ENTITIES:
        anchor = template.format(e=e)
        add(anchor, template.format(e=same_e), 1, "", template)
        add(anchor, template.format(e=other_e), 0, "entity", template)
    for template, w, opposite in TEMPORAL:
        anchor = template.format(w=w)
        add(
            anchor,
            anchor.replace("Remind me", "Please remind me")
            .replace("Should I", "Is it best to")
            .replace("Can I", "Is it possible to")
            .replace("Is it better", "Should I"),
            1,
            "",
            template,
        )
        add(anchor, template.format(w=opposite), 0, "temporal", template)
    for q, same, opposite in COMPARATIVE:
        add(q, same, 1, "", q)
        add(q, opposite, 0, "comparative", q)
    for q, same, turned in NEGATED:
        add(q, same, 1, "", q)
        add(q, turned, 0, "negation", q)
        add(same, turned, 0, "negation", q)
    return list(dict.fromkeys(out))


def prompt_split(seed: int = 0) -> dict[str, list[Example]]:
    rows = prompt_pairs(seed)
    return {side: [r for r in rows if split_of(r.group) == side] for side in ("train", "dev")}
