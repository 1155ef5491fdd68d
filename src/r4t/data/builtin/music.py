"""The generated music catalog: tracks with hidden attributes, playlists, broad queries.

Genre drives everything else through affinity tables (jazz is rarely 'fast' with
'rap'), so the attributes co-occur the way they do in real listening data and a query
like "rainy-day jazz" has several sensible readings (eras, moods, line-ups) that a
good playlist spans.
"""

from __future__ import annotations

import random

from r4t.data.builtin.engine import Intent, ItemPool, diverse_sample

GENRES: dict[str, dict[str, list[str]]] = {
    # genre: plausible moods, eras, tempos, instrumentation, vocals
    "jazz": dict(mood=["mellow", "romantic", "nostalgic", "dreamy", "playful", "melancholic"], era=["60s", "70s", "80s", "2000s", "2010s"], tempo=["slow", "mid-tempo", "fast"], inst=["piano", "saxophone", "brass", "upright bass", "acoustic guitar"], vocals=["instrumental", "female vocals", "male vocals"]),
    "blues": dict(mood=["melancholic", "mellow", "nostalgic", "dark"], era=["60s", "70s", "80s", "90s"], tempo=["slow", "mid-tempo"], inst=["electric guitar", "organ", "piano", "harmonica"], vocals=["male vocals", "female vocals", "instrumental"]),
    "soul": dict(mood=["romantic", "hopeful", "mellow", "euphoric", "nostalgic"], era=["60s", "70s", "2000s", "2010s"], tempo=["slow", "mid-tempo"], inst=["brass", "organ", "strings", "electric piano"], vocals=["female vocals", "male vocals", "duet"]),
    "funk": dict(mood=["playful", "euphoric", "upbeat"], era=["70s", "80s", "2010s"], tempo=["mid-tempo", "fast"], inst=["bass-heavy", "brass", "electric guitar", "synths"], vocals=["male vocals", "female vocals", "instrumental"]),
    "rock": dict(mood=["upbeat", "aggressive", "nostalgic", "euphoric", "dark"], era=["60s", "70s", "80s", "90s", "2000s"], tempo=["mid-tempo", "fast"], inst=["electric guitar", "organ", "drums"], vocals=["male vocals", "female vocals"]),
    "indie": dict(mood=["dreamy", "melancholic", "hopeful", "upbeat", "nostalgic"], era=["2000s", "2010s", "2020s"], tempo=["slow", "mid-tempo", "fast"], inst=["electric guitar", "synths", "acoustic guitar"], vocals=["male vocals", "female vocals", "duet"]),
    "pop": dict(mood=["upbeat", "euphoric", "romantic", "playful", "hopeful"], era=["80s", "90s", "2000s", "2010s", "2020s"], tempo=["mid-tempo", "fast"], inst=["synths", "drum machine", "piano", "strings"], vocals=["female vocals", "male vocals", "duet"]),
    "hip-hop": dict(mood=["aggressive", "playful", "dark", "upbeat", "chill"], era=["90s", "2000s", "2010s", "2020s"], tempo=["slow", "mid-tempo"], inst=["drum machine", "bass-heavy", "samples", "piano"], vocals=["rap", "male vocals", "female vocals"]),
    "electronic": dict(mood=["euphoric", "dreamy", "dark", "upbeat"], era=["90s", "2000s", "2010s", "2020s"], tempo=["mid-tempo", "fast"], inst=["synths", "drum machine", "bass-heavy"], vocals=["instrumental", "female vocals"]),
    "house": dict(mood=["euphoric", "upbeat", "playful"], era=["80s", "90s", "2010s", "2020s"], tempo=["fast", "mid-tempo"], inst=["drum machine", "synths", "piano"], vocals=["instrumental", "female vocals", "male vocals"]),
    "ambient": dict(mood=["dreamy", "chill", "melancholic", "hopeful"], era=["70s", "90s", "2010s", "2020s"], tempo=["slow"], inst=["synths", "strings", "piano"], vocals=["instrumental", "choir"]),
    "classical": dict(mood=["romantic", "melancholic", "hopeful", "dreamy", "dark"], era=["60s", "70s", "80s", "2000s"], tempo=["slow", "mid-tempo", "fast"], inst=["strings", "piano", "brass"], vocals=["instrumental", "choir"]),
    "folk": dict(mood=["nostalgic", "mellow", "hopeful", "melancholic"], era=["60s", "70s", "2010s", "2020s"], tempo=["slow", "mid-tempo"], inst=["acoustic guitar", "banjo", "strings", "harmonica"], vocals=["male vocals", "female vocals", "duet"]),
    "country": dict(mood=["nostalgic", "upbeat", "romantic", "melancholic"], era=["70s", "90s", "2000s", "2010s"], tempo=["mid-tempo", "fast", "slow"], inst=["acoustic guitar", "banjo", "electric guitar", "fiddle"], vocals=["male vocals", "female vocals", "duet"]),
    "metal": dict(mood=["aggressive", "dark", "euphoric"], era=["80s", "90s", "2000s", "2010s"], tempo=["fast", "mid-tempo"], inst=["electric guitar", "drums"], vocals=["male vocals", "female vocals"]),
    "reggae": dict(mood=["chill", "upbeat", "hopeful", "mellow"], era=["70s", "80s", "2000s"], tempo=["slow", "mid-tempo"], inst=["bass-heavy", "organ", "brass", "electric guitar"], vocals=["male vocals", "female vocals"]),
    "latin": dict(mood=["upbeat", "romantic", "playful", "euphoric"], era=["70s", "90s", "2010s", "2020s"], tempo=["mid-tempo", "fast"], inst=["brass", "acoustic guitar", "percussion", "piano"], vocals=["male vocals", "female vocals", "duet"]),
    "lo-fi": dict(mood=["chill", "mellow", "dreamy", "nostalgic"], era=["2010s", "2020s"], tempo=["slow"], inst=["electric piano", "samples", "drum machine"], vocals=["instrumental"]),
}

# Which moods and tempos suit an activity; an item's context is drawn among those it suits.
CONTEXTS: dict[str, dict[str, list[str]]] = {
    "studying": dict(mood=["chill", "mellow", "dreamy", "hopeful"], tempo=["slow", "mid-tempo"]),
    "road trip": dict(mood=["upbeat", "euphoric", "nostalgic", "hopeful", "playful"], tempo=["mid-tempo", "fast"]),
    "workout": dict(mood=["aggressive", "euphoric", "upbeat"], tempo=["fast", "mid-tempo"]),
    "party": dict(mood=["euphoric", "playful", "upbeat"], tempo=["fast", "mid-tempo"]),
    "dinner": dict(mood=["romantic", "mellow", "nostalgic"], tempo=["slow", "mid-tempo"]),
    "sleep": dict(mood=["dreamy", "chill", "mellow"], tempo=["slow"]),
    "rainy day": dict(mood=["melancholic", "mellow", "dreamy", "nostalgic", "chill"], tempo=["slow", "mid-tempo"]),
    "commute": dict(mood=["upbeat", "chill", "hopeful", "dark", "playful"], tempo=["mid-tempo", "fast"]),
    "late night": dict(mood=["dark", "dreamy", "melancholic", "romantic", "chill"], tempo=["slow", "mid-tempo"]),
    "morning coffee": dict(mood=["hopeful", "mellow", "chill", "playful"], tempo=["slow", "mid-tempo"]),
    "beach day": dict(mood=["upbeat", "chill", "playful", "hopeful"], tempo=["mid-tempo", "fast", "slow"]),
    "cooking": dict(mood=["playful", "upbeat", "romantic", "nostalgic", "mellow"], tempo=["mid-tempo"]),
}

MOOD_WORDS = {
    "mellow": ["mellow", "laid-back", "easygoing"], "melancholic": ["melancholic", "wistful", "bittersweet"],
    "upbeat": ["upbeat", "feel-good", "bouncy"], "euphoric": ["euphoric", "soaring", "ecstatic"],
    "dreamy": ["dreamy", "hazy", "floaty"], "aggressive": ["aggressive", "hard-hitting", "ferocious"],
    "romantic": ["romantic", "tender", "sultry"], "nostalgic": ["nostalgic", "retro-tinged", "sentimental"],
    "chill": ["chill", "relaxed", "calm"], "dark": ["dark", "brooding", "moody"],
    "hopeful": ["hopeful", "uplifting", "warm"], "playful": ["playful", "cheeky", "groovy"],
}
TEMPO_BPM = {"slow": (60, 85), "mid-tempo": (86, 118), "fast": (119, 175)}
TEMPO_WORDS = {"slow": ["slow", "unhurried", "downtempo"], "mid-tempo": ["mid-tempo", "steady", "medium-paced"], "fast": ["fast", "driving", "high-energy"]}
CONTEXT_PHRASES = {
    "studying": ["for studying", "to study to", "for deep focus"], "road trip": ["for a road trip", "for the open road", "for long drives"],
    "workout": ["for the gym", "for a workout", "to train to"], "party": ["for a party", "for the dance floor", "for a house party"],
    "dinner": ["for dinner", "for a dinner party", "for candlelit dinners"], "sleep": ["for sleep", "to fall asleep to", "for bedtime"],
    "rainy day": ["for a rainy day", "for rainy afternoons", "for grey weather"], "commute": ["for the commute", "for the morning train", "for the bus ride"],
    "late night": ["for late nights", "for after midnight", "for the small hours"], "morning coffee": ["for morning coffee", "for slow mornings", "for breakfast"],
    "beach day": ["for the beach", "for a beach day", "for sunny afternoons"], "cooking": ["for cooking", "for the kitchen", "to cook along to"],
}
CONTEXT_ADJ = {"studying": "study", "road trip": "road-trip", "workout": "workout", "party": "party", "dinner": "dinner",
               "sleep": "sleepy", "rainy day": "rainy-day", "commute": "commute", "late night": "late-night",
               "morning coffee": "morning", "beach day": "beach", "cooking": "kitchen"}
SYLLABLES = ["ka", "lo", "mi", "ra", "sen", "tu", "vel", "no", "ari", "bel", "cor", "da", "el", "fi", "gar", "hu", "is", "jo", "lum", "mar", "nia", "or", "pa", "quin", "ros", "sol", "ta", "ul", "vin", "wen", "xa", "yo", "zel"]
TITLE_WORDS = ["Midnight", "Golden", "River", "Neon", "Paper", "Velvet", "Echo", "Harbor", "Satellite", "Wildflower", "Static", "Ember", "Glass", "Highway", "Lantern", "Orbit", "Silver", "Tides", "Cinder", "Meadow"]
TITLE_NOUNS = ["Hearts", "Lights", "Dreams", "Roads", "Skies", "Letters", "Waves", "Days", "Signals", "Rooms", "Fires", "Gardens"]


def _name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


class MusicDomain:
    name = "music"
    attributes: tuple[str, ...] = ("genre", "mood", "era", "tempo", "instrumentation", "vocals", "context")

    def item_id(self, index: int) -> str:
        return f"track-{index:06d}"

    def sample_item(self, rng: random.Random) -> dict[str, str]:
        genre = rng.choice(sorted(GENRES))
        prof = GENRES[genre]
        mood, tempo = rng.choice(prof["mood"]), rng.choice(prof["tempo"])
        suits = [c for c, need in CONTEXTS.items() if mood in need["mood"] and tempo in need["tempo"]]
        return {
            "genre": genre, "mood": mood, "era": rng.choice(prof["era"]), "tempo": tempo,
            "instrumentation": rng.choice(prof["inst"]), "vocals": rng.choice(prof["vocals"]),
            "context": rng.choice(suits) if suits else "background",
        }

    def describe_item(self, a: dict[str, str], rng: random.Random) -> str:
        title = f"{rng.choice(TITLE_WORDS)} {rng.choice(TITLE_NOUNS)}"
        artist = f"{_name(rng, 2)} {_name(rng, rng.choice([2, 3]))}" if rng.random() < 0.6 else f"The {_name(rng, 2)}s"
        mood = rng.choice(MOOD_WORDS[a["mood"]])
        bpm = rng.randint(*TEMPO_BPM[a["tempo"]])
        tempo = rng.choice([rng.choice(TEMPO_WORDS[a["tempo"]]), f"{bpm} bpm"])
        voc = "no vocals" if a["vocals"] == "instrumental" else a["vocals"]
        ctx = rng.choice(CONTEXT_PHRASES[a["context"]]) if a["context"] in CONTEXT_PHRASES else "for any time"
        templates = [
            f'"{title}" by {artist}: a {mood} {a["era"]} {a["genre"]} track built on {a["instrumentation"]}, {tempo}, {voc}; good {ctx}.',
            f'{a["genre"].capitalize()} from the {a["era"]}, {mood} and {tempo}, with {a["instrumentation"]} and {voc}. "{title}" by {artist}, made {ctx}.',
            f'{artist} - "{title}". {mood.capitalize()} {a["instrumentation"]}-led {a["genre"]} ({a["era"]}, {tempo}, {voc}). Try it {ctx}.',
            f'A {tempo} {a["genre"]} cut from the {a["era"]}: {mood}, {a["instrumentation"]}, {voc}. "{title}" ({artist}) works {ctx}.',
        ]
        return rng.choice(templates)

    # ------------------------------------------------------------------ intents
    def open_intents(self) -> list[tuple[Intent, str]]:
        out: list[tuple[Intent, str]] = []
        genres, moods = sorted(GENRES), sorted(MOOD_WORDS)
        for c in sorted(CONTEXTS):
            out.append(({"context": [c]}, "genre"))
            out += [({"context": [c], "genre": [g]}, "era") for g in genres]
            out += [({"context": [c], "mood": [m]}, "genre") for m in moods]
        for g in genres:
            out += [({"genre": [g], "era": [e]}, "mood") for e in sorted({e for p in GENRES.values() for e in p["era"]})]
            out += [({"genre": [g], "mood": [m]}, "context") for m in moods]
        return out

    def compositional_intents(self) -> list[tuple[Intent, str]]:
        out: list[tuple[Intent, str]] = []
        for g in sorted(GENRES):
            prof = GENRES[g]
            for e in prof["era"]:
                out += [({"genre": [g], "era": [e], "vocals": [v]}, "mood") for v in prof["vocals"]]
                out += [({"genre": [g], "era": [e], "instrumentation": [i]}, "mood") for i in prof["inst"]]
            for m in prof["mood"]:
                out += [({"genre": [g], "mood": [m], "tempo": [t]}, "era") for t in prof["tempo"]]
        return out

    def phrase(self, intent: Intent, kind: str, rng: random.Random) -> list[str]:
        g = intent.get("genre", [None])[0]
        m = intent.get("mood", [None])[0]
        c = intent.get("context", [None])[0]
        e = intent.get("era", [None])[0]
        if kind == "compositional":
            extra = intent.get("vocals", intent.get("instrumentation", intent.get("tempo", [""])))[0]
            lead = f"{e} {g}" if e else f"{rng.choice(MOOD_WORDS[str(m)])} {g}"  # no era: the intent has a mood
            word = {"instrumental": "instrumental", "rap": "with rap"}.get(extra, f"with {extra}" if extra not in TEMPO_WORDS else extra)
            return [f"{word} {lead}" if extra in TEMPO_WORDS or extra == "instrumental" else f"{lead} {word}"]
        if c and g:
            return [f"{CONTEXT_ADJ[c]} {g}", f"{g} {rng.choice(CONTEXT_PHRASES[c])}"]
        if c and m:
            return [f"{rng.choice(MOOD_WORDS[m])} {CONTEXT_ADJ[c]} music", f"{m} songs {rng.choice(CONTEXT_PHRASES[c])}"]
        if c:
            return [f"music {p}" for p in CONTEXT_PHRASES[c][:2]] + [f"{CONTEXT_ADJ[c]} playlist"]
        if g and e:
            return [f"{e} {g}", f"classic {e} {g} tracks"]
        if g and m:
            return [f"{rng.choice(MOOD_WORDS[m])} {g}", f"{m} {g} songs"]
        raise ValueError(f"no phrasing for intent {intent}")

    def title(self, intent: Intent, rng: random.Random) -> str:
        words = [rng.choice(MOOD_WORDS[intent["mood"][0]]).title()] if "mood" in intent else []
        if "era" in intent:
            words.append(intent["era"][0])
        if "genre" in intent:
            words.append(intent["genre"][0].title())
        if "context" in intent:
            words.append(rng.choice(CONTEXT_PHRASES[intent["context"][0]]).title().replace("For ", "for "))
        if len(words) == 1 and "context" in intent:
            return rng.choice(["Songs ", "Music ", "Tunes "]) + words[0]
        prefix = rng.choice(["", "", "Essential ", "Pure ", "Our ", "Endless "])
        return (prefix + " ".join(words)).strip()

    def collection_size(self, rng: random.Random) -> int:
        return rng.randint(10, 20)

    def curate(self, pool: ItemPool, intent: Intent, facet: str, size: int, rng: random.Random) -> list[int]:
        """On theme (all match the intent), diverse (round-robin over 3-5 facet values)."""
        groups = pool.by_value(pool.match(intent), facet)
        groups = {k: v for k, v in groups.items() if len(v) >= 2}
        return diverse_sample(groups, size, rng, max_groups=rng.randint(3, 5))
