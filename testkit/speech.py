"""Dialogue stems spoken by espeak-ng: seeded sentences placed with natural pauses."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from .transforms import resample

__all__ = ["LANGUAGES", "speak", "sentences", "dialogue_track"]

_WORDS: dict[str, dict[str, list[str]]] = {
    "en": {
        "subj": [
            "The captain",
            "My sister",
            "Nobody",
            "The old man",
            "Our neighbour",
            "She",
            "The doctor",
            "Everyone in town",
            "The driver",
            "Your friend",
            "He",
            "The police",
        ],
        "verb": [
            "saw",
            "forgot",
            "promised",
            "found",
            "never trusted",
            "carried",
            "followed",
            "wanted",
            "remembered",
            "hid",
            "sold",
            "painted",
        ],
        "obj": [
            "the letter",
            "a red car",
            "the key to the house",
            "that strange dog",
            "the money",
            "the last train",
            "an old photograph",
            "the whole story",
            "the broken window",
            "a box of oranges",
            "the secret",
            "the map",
        ],
        "tail": [
            "yesterday evening",
            "near the river",
            "before the storm",
            "at midnight",
            "without a word",
            "in the kitchen",
            "after the party",
            "last winter",
            "",
        ],
        "q": [
            "Where are you going?",
            "Did you hear that?",
            "What time is it?",
            "Are you sure?",
            "Why didn't you call me?",
            "Who told you that?",
            "Can we talk now?",
        ],
        "x": [
            "Listen to me.",
            "Wait!",
            "Come on, hurry up.",
            "I don't believe it.",
            "That's not what I meant.",
            "Get out of here!",
            "Okay, fine.",
        ],
    },
    "de": {
        "subj": [
            "Der Kapitän",
            "Meine Schwester",
            "Niemand",
            "Der alte Mann",
            "Unser Nachbar",
            "Sie",
            "Der Arzt",
            "Die ganze Stadt",
            "Der Fahrer",
            "Dein Freund",
            "Er",
        ],
        "verb": [
            "sah",
            "vergaß",
            "versprach",
            "fand",
            "trug",
            "suchte",
            "verkaufte",
            "malte",
            "versteckte",
            "erkannte",
        ],
        "obj": [
            "den Brief",
            "ein rotes Auto",
            "den Schlüssel zum Haus",
            "diesen seltsamen Hund",
            "das Geld",
            "den letzten Zug",
            "ein altes Foto",
            "die ganze Geschichte",
            "das kaputte Fenster",
            "eine Kiste Orangen",
            "das Geheimnis",
            "die Karte",
        ],
        "tail": [
            "gestern Abend",
            "am Fluss",
            "vor dem Sturm",
            "um Mitternacht",
            "ohne ein Wort",
            "in der Küche",
            "nach der Party",
            "letzten Winter",
            "",
        ],
        "q": [
            "Wohin gehst du?",
            "Hast du das gehört?",
            "Wie spät ist es?",
            "Bist du sicher?",
            "Warum hast du nicht angerufen?",
            "Wer hat dir das gesagt?",
        ],
        "x": [
            "Hör mir zu.",
            "Warte!",
            "Komm schon, beeil dich.",
            "Das glaube ich nicht.",
            "So habe ich das nicht gemeint.",
            "Raus hier!",
            "Na gut.",
        ],
    },
    "fr": {
        "subj": [
            "Le capitaine",
            "Ma soeur",
            "Personne",
            "Le vieil homme",
            "Notre voisin",
            "Elle",
            "Le médecin",
            "Toute la ville",
            "Le chauffeur",
            "Ton ami",
            "Il",
        ],
        "verb": [
            "a vu",
            "a oublié",
            "a promis",
            "a trouvé",
            "a porté",
            "a suivi",
            "a vendu",
            "a caché",
            "a reconnu",
            "a peint",
        ],
        "obj": [
            "la lettre",
            "une voiture rouge",
            "la clé de la maison",
            "ce chien étrange",
            "l'argent",
            "le dernier train",
            "une vieille photo",
            "toute l'histoire",
            "la fenêtre cassée",
            "une caisse d'oranges",
            "le secret",
            "la carte",
        ],
        "tail": [
            "hier soir",
            "près de la rivière",
            "avant l'orage",
            "à minuit",
            "sans un mot",
            "dans la cuisine",
            "après la fête",
            "l'hiver dernier",
            "",
        ],
        "q": [
            "Où vas-tu?",
            "Tu as entendu ça?",
            "Quelle heure est-il?",
            "Tu es sûr?",
            "Pourquoi tu ne m'as pas appelé?",
            "Qui t'a dit ça?",
        ],
        "x": [
            "Écoute-moi.",
            "Attends!",
            "Allez, dépêche-toi.",
            "Je n'y crois pas.",
            "Ce n'est pas ce que je voulais dire.",
            "Sors d'ici!",
            "Bon, d'accord.",
        ],
    },
    "es": {
        "subj": [
            "El capitán",
            "Mi hermana",
            "Nadie",
            "El viejo",
            "Nuestro vecino",
            "Ella",
            "El médico",
            "Todo el pueblo",
            "El conductor",
            "Tu amigo",
            "Él",
        ],
        "verb": [
            "vio",
            "olvidó",
            "prometió",
            "encontró",
            "llevó",
            "siguió",
            "vendió",
            "escondió",
            "reconoció",
            "pintó",
        ],
        "obj": [
            "la carta",
            "un coche rojo",
            "la llave de la casa",
            "ese perro extraño",
            "el dinero",
            "el último tren",
            "una foto antigua",
            "toda la historia",
            "la ventana rota",
            "una caja de naranjas",
            "el secreto",
            "el mapa",
        ],
        "tail": [
            "anoche",
            "cerca del río",
            "antes de la tormenta",
            "a medianoche",
            "sin decir nada",
            "en la cocina",
            "después de la fiesta",
            "el invierno pasado",
            "",
        ],
        "q": [
            "¿Adónde vas?",
            "¿Has oído eso?",
            "¿Qué hora es?",
            "¿Estás seguro?",
            "¿Por qué no me llamaste?",
            "¿Quién te dijo eso?",
        ],
        "x": [
            "Escúchame.",
            "¡Espera!",
            "Vamos, date prisa.",
            "No me lo creo.",
            "No es lo que quería decir.",
            "¡Fuera de aquí!",
            "Vale, de acuerdo.",
        ],
    },
}

#: Languages with sentence material (espeak-ng voice names).
LANGUAGES: tuple[str, ...] = tuple(_WORDS)
_VARIANTS = ("m1", "m3", "m7", "f2", "f3", "f4")


def _require_espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng not found: install it with `apt-get install -y espeak-ng`")
    return exe


@lru_cache(maxsize=4096)
def _speak_cached(text: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, int]:
    exe = _require_espeak()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text]
        res = subprocess.run(cmd, capture_output=True, check=False)
        if res.returncode != 0 or not wav.exists():
            raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {res.stderr.decode()}")
        from scipy.io import wavfile

        sr, data = wavfile.read(wav)
    x = data.astype(np.float32) / 32768.0
    return (x if x.ndim == 1 else x.mean(axis=1)), int(sr)


def speak(
    text: str, *, voice: str, sample_rate: int, speed: int = 160, pitch: int = 50
) -> np.ndarray:
    """Speech of ``text`` by ``espeak-ng -v voice`` (e.g. "en", "de+f2"), mono float32 at
    ``sample_rate`` Hz, leading/trailing silence trimmed. ``speed`` in words/min, ``pitch``
    0–99."""
    x, sr = _speak_cached(text, voice, speed, pitch)
    x = resample(x, sr, sample_rate)
    nz = np.flatnonzero(np.abs(x) > 1e-3)
    return x[nz[0] : nz[-1] + 1].copy() if nz.size else x


def sentences(language: str, count: int, *, seed: int) -> list[str]:
    """``count`` seeded sentences (statements, questions, exclamations) in ``language``."""
    if language not in _WORDS:
        raise ValueError(f"language {language!r}: known {list(_WORDS)}")
    w = _WORDS[language]
    rng = np.random.default_rng([seed, 0x5E7])
    out = []
    for _ in range(count):
        r = rng.random()
        if r < 0.15:
            out.append(str(rng.choice(w["q"])))
        elif r < 0.27:
            out.append(str(rng.choice(w["x"])))
        else:
            parts = [rng.choice(w[k]) for k in ("subj", "verb", "obj", "tail")]
            s = " ".join(str(p) for p in parts if p) + "."
            if rng.random() < 0.3:
                s += " " + str(rng.choice(w["x"]))
            out.append(s)
    return out


def dialogue_track(
    duration_seconds: float,
    sample_rate: int,
    *,
    language: str,
    seed: int,
    density: float = 0.5,
    level_db: float = -20.0,
) -> np.ndarray:
    """A mono dialogue stem (n,) float32: seeded lines by 2–3 characters in ``language``.

    Lines are placed one after another with pauses drawn so that speech covers about
    ``density`` (0–1) of the time; each line is levelled to about ``level_db`` dBFS RMS
    (±3 dB), with different espeak-ng voices, speeds and pitches per character.
    """
    n = int(round(duration_seconds * sample_rate))
    out = np.zeros(n, np.float32)
    rng = np.random.default_rng([seed, 0xD1A])
    n_chars = int(rng.integers(2, 4))
    chars = [
        (
            f"{language}+{rng.choice(_VARIANTS)}",
            int(rng.integers(140, 185)),
            int(rng.integers(25, 75)),
        )
        for _ in range(n_chars)
    ]
    est_lines = int(duration_seconds * density / 2.0) + 4
    lines = sentences(language, est_lines * 2, seed=seed)
    who = rng.integers(0, n_chars, size=len(lines))
    with ThreadPoolExecutor(max_workers=4) as pool:
        futs = [
            pool.submit(
                speak,
                s,
                voice=chars[c][0],
                sample_rate=sample_rate,
                speed=chars[c][1],
                pitch=chars[c][2],
            )
            for s, c in zip(lines, who, strict=True)
        ]
        # lines are consumed lazily below; extra futures are cheap and cached
        t = float(rng.uniform(0.5, 3.0))
        mean_gap = 1.5 * (1.0 - density) / max(density, 0.05)
        for f in futs:
            if t >= duration_seconds:
                break
            x = f.result()
            g = 10 ** ((level_db + rng.uniform(-3, 3)) / 20) / max(
                float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 1e-6
            )
            g = min(g, 0.7 / max(float(np.abs(x).max()), 1e-6))  # peak ≤ −3 dBFS
            i0 = int(t * sample_rate)
            seg = (x * np.float32(g))[: n - i0]
            out[i0 : i0 + len(seg)] += seg
            gap = rng.exponential(mean_gap) + 0.15
            if rng.random() < 0.08:
                gap += rng.uniform(4.0, 10.0)  # a scene without dialogue
            t += len(x) / sample_rate + gap
    return out
