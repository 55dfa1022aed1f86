"""The real-clips haystack: real clips spliced into long filler at recorded offsets.

Every run of this benchmark touches footage nobody on the project made (see
``../shared/data/videos/SOURCES.md``).  :func:`build` writes ``OUT.mp4`` and ``OUT.json``; the JSON
records where each clip landed, and :func:`build_questions` asks about those clips only, so every
answer and reference span is exact.

**Where the answers come from.**  Every fact below was written from SOURCES.md *and* from looking
at extracted frames of the clip (contact sheets and crops, December 2026).  Where the two
disagreed the frames won, and the disagreement is noted beside the clip (``bikes.mp4`` is a
city-cycling montage whose overhead shot lasts 1.2 s; the produce rides a dark belt, not a white
surface; the corridor man wears a dark shirt with white embroidered panels and glasses).  Times
inside a clip (``at``, :class:`Moment`) are seconds from the clip's first frame, read from frame
scans (scene cuts, fades, text onsets) and rounded outward.

**Question kinds** (``categories[0]``): ``what``, ``who``, ``doing``, ``count``, ``colour``,
``when`` (which window shows a clip or a moment inside one) and ``order`` (which of several clips or
moments comes first).  Distractors are plausible for the scene and wrong by the frames; a few
are things that *are* in the clip but do not answer the question (a second shopper for "who
wears the hat").  Gold letters are balanced per video (each letter the answer equally often),
so no fixed-letter guess beats chance.  Open-ended questions with reference answers (category
``open``) are built too; they cannot be scored by letter, so a loader keeps them only on
request (excluded from scoring, the reference in ``meta["reference"]``).

Questions may be hard for the CPU default (no captioner, no vision-language model): that is the
point.  Nothing here is tuned to what the default pipeline can see.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidsleuth.errors import VideoError
from vidsleuth.evals.schema import LETTERS, QARecord
from vidsleuth.evals.timecodes import format_clock

FACT_KINDS: tuple[str, ...] = ("what", "who", "doing", "count", "colour", "order")
QUESTION_KINDS: tuple[str, ...] = ("what", "who", "doing", "count", "colour", "when", "order")
PUBLIC_LENGTHS_MIN: tuple[float, ...] = (10.0, 30.0, 60.0)
DEFAULT_VIDEOS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
ORDER_ROUNDS = 2  # cross-clip "which first" questions per placed clip (distinct option sets)


@dataclass(frozen=True)
class ClipFact:
    """One multiple-choice question about a clip: the right answer and three wrong ones."""

    question: str
    answer: str
    wrong: tuple[str, str, str]
    kind: str = "what"
    at: tuple[float, float] | None = None  # seconds into the clip; None: the whole clip


@dataclass(frozen=True)
class Moment:
    """A stretch inside a clip that a *when* question can ask about (and *order* can use)."""

    label: str  # "the bird sitting on a branch"
    start: float  # seconds into the clip
    end: float


@dataclass(frozen=True)
class OpenQuestion:
    """A free-answer question with a reference answer (scored by a reader, not by letter)."""

    question: str
    reference: str
    at: tuple[float, float] | None = None


@dataclass(frozen=True)
class Clip:
    file: str
    description: str  # how "when"/"order" questions name the clip (unique within the set)
    facts: tuple[ClipFact, ...]
    moments: tuple[Moment, ...] = ()
    open: tuple[OpenQuestion, ...] = ()


def _f(
    kind: str,
    question: str,
    answer: str,
    wrong: tuple[str, str, str],
    at: tuple[float, float] | None = None,
) -> ClipFact:
    return ClipFact(question, answer, wrong, kind, at)


CLIPS: tuple[Clip, ...] = (
    # SOURCES.md calls it an overhead road with a red car; the frames show a 10 s city-cycling
    # montage: 0-1.2 s looking down on a white vehicle's roof (a red car passes at 0.6-1.1 s),
    # a man in a suit cycling in traffic, a TAXI roof sign, a helmeted cyclist behind a van,
    # a bicycle at a green fence, a pedestrian passing a parked black bicycle.
    Clip(
        "bikes.mp4",
        "the montage of cyclists in city traffic",
        (
            _f(
                "what",
                "In the shot looking down on a white vehicle's roof, what vehicle passes by?",
                "a red car",
                ("a yellow school bus", "a white delivery van", "a green tractor"),
                (0.0, 1.2),
            ),
            _f(
                "what",
                "In the city traffic montage, what word is written on the roof sign of a car?",
                "TAXI",
                ("POLICE", "PIZZA", "DRIVING SCHOOL"),
                (2.3, 3.1),
            ),
            _f(
                "what",
                "In the city traffic montage, what is the bicycle by the roadside leaning against?",
                "a green metal railing",
                ("a lamp post", "a tree trunk", "a parking meter"),
                (5.4, 7.5),
            ),
            _f(
                "who",
                "Who rides a bicycle between the queued cars in the city traffic montage?",
                "a man in a dark suit and tie",
                (
                    "a child in a red helmet",
                    "a woman in a yellow raincoat",
                    "a postman with a sack",
                ),
                (1.2, 2.0),
            ),
            _f(
                "who",
                "Who waits on a bicycle behind the van with a lit brake light?",
                "a cyclist in a helmet and black clothes",
                ("a woman with a child seat", "a courier with a large box", "a boy on a BMX"),
                (3.0, 5.5),
            ),
            _f(
                "doing",
                "In the city traffic montage, what is the helmeted cyclist behind the van doing?",
                "waiting astride the bicycle",
                ("repairing a flat tyre", "racing downhill", "carrying the bicycle upstairs"),
                (3.0, 5.5),
            ),
            _f(
                "doing",
                "In the city traffic montage, what does the pedestrian do near the parked black "
                "bicycle?",
                "walks past it",
                ("unlocks it and rides away", "kicks it over", "sits down on it"),
                (7.4, 9.7),
            ),
            _f(
                "count",
                "How many different people are seen riding bicycles in the city traffic montage?",
                "2",
                ("1", "4", "6"),
            ),
            _f(
                "colour",
                "In the shot looking down on a white vehicle's roof, what colour is the car that "
                "passes?",
                "red",
                ("yellow", "white", "green"),
                (0.0, 1.2),
            ),
            _f(
                "order",
                "In the city traffic montage, which of these shots comes first?",
                "a man in a suit cycling between cars",
                (
                    "a TAXI roof sign",
                    "a bicycle leaning on a green railing",
                    "a pedestrian walking past a parked bicycle",
                ),
            ),
            _f(
                "who",
                "In the city traffic montage, who walks past the parked black bicycle?",
                "a pedestrian in dark trousers, seen from the waist down",
                ("a police officer on a horse", "a child on a scooter", "a woman pushing a pram"),
                (7.4, 9.7),
            ),
        ),
        (
            Moment("the view down onto a white vehicle's roof", 0.0, 1.2),
            Moment("the man in a suit cycling between queued cars", 1.2, 2.0),
            Moment("the TAXI roof sign", 2.3, 3.1),
            Moment("the helmeted cyclist waiting behind a van", 3.0, 5.5),
            Moment("the bicycle leaning on a green railing by a street", 5.4, 7.5),
            Moment("the pedestrian walking past a parked black bicycle", 7.4, 9.7),
        ),
    ),
    Clip(
        "big_buck_bunny_0_30.webm",
        "the animated opening with a meadow, a bird and a title",
        (
            _f(
                "what",
                "Which film title is shown in the animated meadow scenes?",
                "Big Buck Bunny",
                ("Elephants Dream", "Sintel", "Tears of Steel"),
                (25.0, 29.5),
            ),
            _f(
                "what",
                "What line of text is shown over the tree branch before the title in the animated "
                "scenes?",
                "THE PEACH OPEN MOVIE PROJECT PRESENTS",
                ("A BLENDER FOUNDATION FILM", "BASED ON A TRUE STORY", "ONCE UPON A TIME"),
                (20.4, 23.0),
            ),
            _f(
                "what",
                "In the animated scenes, what creature sits on a tree branch?",
                "a plump purple-grey bird",
                ("a red squirrel", "a butterfly", "a white rabbit"),
                (15.7, 20.8),
            ),
            _f(
                "what",
                "In the animated scenes, what lies under the tree where the title is shown?",
                "a grassy mound with a burrow",
                ("a pond with ducks", "a wooden cabin", "a stone well"),
                (23.0, 30.0),
            ),
            _f(
                "doing",
                "In the animated scenes, what does the bird on the branch do?",
                "stretches and flaps its wings",
                ("eats a red berry", "builds a nest", "pecks at the bark"),
                (15.7, 20.8),
            ),
            _f(
                "colour",
                "In the animated scenes, what colour is the beak of the bird on the branch?",
                "orange",
                ("blue", "black", "white"),
                (15.7, 20.8),
            ),
            _f(
                "count",
                "In the animated scenes, how many birds sit on the tree branch?",
                "1",
                ("2", "3", "5"),
                (15.7, 20.8),
            ),
            _f(
                "colour",
                "In the animated meadow scenes, what colour are the sky and clouds at the start?",
                "pink",
                ("green", "grey and stormy", "dark blue with stars"),
                (0.5, 11.8),
            ),
            _f(
                "order",
                "In the animated scenes, which of these comes first?",
                "the meadow under a pink sky",
                (
                    "the bird on a branch",
                    "the title 'Big Buck Bunny'",
                    "the stream lined with flowers",
                ),
            ),
        ),
        (
            Moment("the animated meadow under a pink sky", 0.5, 11.8),
            Moment("the animated stream lined with flowers", 11.8, 15.7),
            Moment("the animated bird sitting on a branch", 15.7, 20.8),
            Moment("the line 'THE PEACH OPEN MOVIE PROJECT PRESENTS'", 20.4, 23.0),
            Moment("the title 'Big Buck Bunny'", 25.0, 29.5),
        ),
        (
            OpenQuestion(
                "Describe the animated scenes in the order they are shown.",
                "A meadow with trees under a pink sky, a stream lined with flowers, a plump "
                "purple-grey bird on a branch that stretches and flaps its wings, the line 'The "
                "Peach Open Movie Project presents', then the title 'Big Buck Bunny' over a grassy "
                "mound with a burrow under a tree.",
            ),
        ),
    ),
    Clip(
        "chaplin.mp4",
        "the black-and-white silent film",
        (
            _f(
                "what",
                "In the black-and-white silent film, what hat does the man who runs in wear?",
                "a bowler hat",
                ("a top hat", "a baseball cap", "a straw sombrero"),
            ),
            _f(
                "what",
                "In the black-and-white silent film, what stands at the edge of the pavement "
                "behind the two men?",
                "a stone gate pillar topped with a ball",
                ("a red telephone box", "a horse and cart", "a clock tower"),
            ),
            _f(
                "who",
                "In the black-and-white silent film, who is standing on the pavement when the man "
                "in the bowler hat arrives?",
                "a police officer in a helmet",
                ("a waiter with a tray", "a woman with a parasol", "a soldier on horseback"),
            ),
            _f(
                "who",
                "In the black-and-white silent film, who runs in and bumps into the police "
                "officer?",
                "a man in a bowler hat and baggy trousers",
                ("a boy selling newspapers", "a woman in a long dress", "a barking dog"),
                (0.2, 1.1),
            ),
            _f(
                "count",
                "How many people in the black-and-white silent film wear something on their head?",
                "2",
                ("0", "1", "3"),
            ),
            _f(
                "doing",
                "In the black-and-white silent film, what does the man in the bowler hat do as he "
                "arrives?",
                "bumps into the police officer",
                (
                    "tips his hat to a lady",
                    "slips on a banana peel",
                    "climbs onto the stone pillar",
                ),
                (0.2, 1.1),
            ),
            _f(
                "doing",
                "At the end of the black-and-white silent film clip, what does the police officer "
                "do?",
                "points at the man in the bowler hat",
                ("blows a whistle", "handcuffs the man", "rides away on a bicycle"),
                (8.9, 9.6),
            ),
            _f(
                "count",
                "How many people are in the black-and-white silent film scene?",
                "2",
                ("1", "3", "5"),
            ),
            _f(
                "colour",
                "In what colours is the silent film with the police officer shown?",
                "black and white",
                ("full colour", "green-tinted", "blue-tinted"),
            ),
            _f(
                "doing",
                "At the very start of the black-and-white silent film, what is the police officer "
                "doing?",
                "standing on the pavement with his back to the camera",
                ("directing traffic", "chasing a thief", "writing in a notebook"),
                (0.0, 0.6),
            ),
        ),
        (
            Moment("the man in a bowler hat bumping into a police officer", 0.2, 1.1),
            Moment("the police officer pointing at the man in the bowler hat", 8.9, 9.6),
        ),
        (
            OpenQuestion(
                "What happens in the black-and-white silent film?",
                "A man in a bowler hat and baggy trousers runs in and bumps into a police officer "
                "in a helmet standing on a pavement by a stone gate pillar; he stands beside the "
                "officer, who at the end points at him.",
            ),
        ),
    ),
    Clip(
        "timecode_pattern.mp4",
        "the colour-bar test pattern with a caption",
        (
            _f(
                "what",
                "What caption is written on the colour-bar test pattern?",
                "1024 x 768 25 fps Photo JPEG 75%",
                (
                    "1920 x 1080 30 fps H.264 90%",
                    "640 x 480 24 fps MPEG-2 50%",
                    "1280 x 720 60 fps ProRes 100%",
                ),
            ),
            _f(
                "what",
                "Which of these readings does the clock on the colour-bar test pattern show at "
                "some point?",
                "00:00:06:10",
                ("00:02:06:10", "00:00:36:10", "10:00:06:10"),
            ),
            _f(
                "doing",
                "What do the vertical bars of the colour-bar test pattern do?",
                "slide sideways across the screen",
                ("stay perfectly still", "flash on and off", "spin around the centre"),
            ),
            _f(
                "doing",
                "What happens to the two circles beside the clock of the colour-bar test pattern?",
                "they fill and empty like a pie chart as the seconds pass",
                ("they spin like wheels", "they change colour", "they stay blank"),
            ),
            _f(
                "count",
                "How many vertical colour bars does the test pattern with the caption show?",
                "8",
                ("5", "6", "7"),
            ),
            _f(
                "count",
                "How many circles sit beside the clock of the colour-bar test pattern with the "
                "caption?",
                "2",
                ("1", "3", "4"),
            ),
            _f(
                "colour",
                "How is the caption of the colour-bar test pattern written?",
                "white letters on a black box",
                ("black letters on yellow", "red letters on white", "green letters on black"),
            ),
        ),
    ),
    Clip(
        "airplane.mp4",
        "the large aircraft in a grey sky",
        (
            _f(
                "what",
                "What flies across the grey sky?",
                "a large airliner",
                ("a hot-air balloon", "a flock of geese", "a small helicopter"),
            ),
            _f(
                "doing",
                "What does the large aircraft in the grey sky do?",
                "flies on, getting smaller in the distance",
                ("lands on a runway", "drops parachutists", "flies a loop"),
            ),
            _f(
                "colour",
                "What colour is the body of the large aircraft in the grey sky?",
                "white",
                ("red", "black", "yellow"),
                (0.0, 3.4),
            ),
            _f(
                "who",
                "Who watches the large aircraft from the ground?",
                "a few spectators standing in a grassy field",
                (
                    "soldiers lined up on a runway",
                    "passengers at an airport gate",
                    "a crowd on a beach",
                ),
                (3.6, 9.0),
            ),
            _f(
                "doing",
                "What are the people in the field under the large aircraft doing?",
                "watching the aircraft fly over",
                ("playing football", "flying kites", "having a picnic"),
                (3.6, 9.0),
            ),
            _f(
                "count",
                "How many people stand in the field watching the large aircraft?",
                "5",
                ("2", "9", "about 30"),
                (3.6, 9.0),
            ),
            _f(
                "colour",
                "What colour is the shirt of the smaller of the two people standing apart in the "
                "middle of the field under the aircraft?",
                "yellow",
                ("red", "blue", "black"),
                (3.6, 9.0),
            ),
            _f(
                "who",
                "Who stands by the tree at the left edge of the field under the large aircraft?",
                "a group of three people, one in a red-and-white shirt",
                ("a farmer on a tractor", "a man walking a dog", "two children on bicycles"),
                (3.6, 9.0),
            ),
        ),
        (
            Moment("the large aircraft seen close against a grey sky", 0.0, 3.4),
            Moment("the spectators in a field watching the aircraft", 3.6, 9.0),
        ),
    ),
    Clip(
        "sintel_snow.mp4",
        "the animated snowstorm",
        (
            _f(
                "who",
                "Who is seen in the snowstorm?",
                "a hooded figure with a staff",
                ("a knight on horseback", "a child with a sled", "a dog pulling a cart"),
            ),
            _f(
                "what",
                "What does the hooded figure in the snowstorm hold?",
                "a wooden staff",
                ("a lantern", "a sword", "a shovel"),
            ),
            _f(
                "doing",
                "What is the hooded figure in the snowstorm doing?",
                "trudging forward against the wind",
                ("building a snowman", "skiing downhill", "riding a sled"),
            ),
            _f(
                "count",
                "How many figures walk through the snowstorm?",
                "1",
                ("2", "3", "5"),
            ),
            _f(
                "doing",
                "What does the hooded figure in the snowstorm do with one hand?",
                "holds a cloth over the mouth and nose",
                (
                    "waves to someone far away",
                    "shields the eyes while looking up",
                    "throws a snowball",
                ),
                (0.8, 2.0),
            ),
        ),
    ),
    Clip(
        "carphone.mp4",
        "the man talking in a moving car",
        (
            _f(
                "what",
                "What does the man talking in the moving car wear at his neck?",
                "a bow tie",
                ("a striped scarf", "a gold chain", "a loose necktie"),
            ),
            _f(
                "who",
                "Who talks to the camera inside the moving car?",
                "a young man in a dark suit and bow tie",
                (
                    "an old woman with glasses",
                    "a girl with a ponytail",
                    "a police officer in uniform",
                ),
            ),
            _f(
                "doing",
                "What is the man in the moving car doing?",
                "talking to the camera",
                ("eating a sandwich", "sleeping", "reading a newspaper"),
            ),
            _f(
                "count",
                "How many people are visible inside the moving car?",
                "1",
                ("2", "3", "4"),
            ),
            _f(
                "colour",
                "What colour is the bow tie of the man in the moving car?",
                "red",
                ("blue", "black", "yellow"),
            ),
            _f(
                "colour",
                "What colour is the shirt under the suit of the man in the moving car?",
                "white",
                ("pink", "black", "light blue"),
            ),
            _f(
                "colour",
                "What colours are the stripes of the seat cover behind the man in the moving car?",
                "blue and white",
                ("red and white", "black and yellow", "green and white"),
            ),
            _f(
                "doing",
                "About two seconds in, what face does the man talking in the moving car pull?",
                "opens his mouth and eyes wide, as if shocked",
                ("winks and smiles", "sticks out his tongue", "puffs out his cheeks"),
                (1.8, 2.3),
            ),
        ),
    ),
    Clip(
        "smpte-2997.mp4",
        "the SMPTE colour bars with running counters",
        (
            _f(
                "what",
                "On the SMPTE colour bars, which number is in the large central box when the "
                "lower clock reads 00:00:04;00?",
                "120.000",
                ("4.004", "60.000", "240.000"),
                (3.9, 4.2),
            ),
            _f(
                "count",
                "How many vertical colour bars fill the upper part of the SMPTE pattern?",
                "7",
                ("5", "6", "8"),
            ),
            _f(
                "colour",
                "What colour is the leftmost bar of the SMPTE colour bars with counters?",
                "light grey",
                ("red", "blue", "green"),
            ),
            _f(
                "count",
                "How many numbers count up on the SMPTE colour bars?",
                "3",
                ("1", "2", "5"),
            ),
            _f(
                "doing",
                "What do the numbers on the SMPTE colour bars do?",
                "count up steadily",
                ("count down to zero", "stay fixed", "jump about at random"),
            ),
        ),
    ),
    Clip(
        "classroom.mp4",
        "the meeting room with blue chairs",
        (
            _f(
                "what",
                "What stands by the window of the meeting room with blue chairs?",
                "a flip chart",
                ("a tall potted plant", "a coat stand", "a television on a trolley"),
            ),
            _f(
                "what",
                "What covers the floor of the meeting room with the flip chart?",
                "blue carpet",
                ("wooden parquet", "white tiles", "bare concrete"),
            ),
            _f(
                "who",
                "In the meeting room, who sits at the front desk on the right, nearest the window?",
                "a man with glasses and reddish hair in a dark T-shirt",
                (
                    "a woman with a long braid in a red sweater",
                    "a bald man in a grey suit and tie",
                    "a boy in a school uniform",
                ),
            ),
            _f(
                "who",
                "In the meeting room, who sits at the back desk on the right?",
                "a person with glasses in a blue zip-up jacket",
                (
                    "a woman in a yellow dress",
                    "an old man with a white beard",
                    "a man in a chef's hat",
                ),
            ),
            _f(
                "who",
                "In the meeting room, who sits at the front desk on the left?",
                "a man in a dark grey sweater",
                (
                    "a woman in a white blouse",
                    "a man in a bright red shirt",
                    "a girl with long blonde hair",
                ),
            ),
            _f(
                "who",
                "In the meeting room, who sits at the back desk on the left?",
                "a man with short dark hair in a dark shirt",
                (
                    "a woman in a flowered dress",
                    "a man in a high-visibility vest",
                    "a grey-haired woman in a cardigan",
                ),
            ),
            _f(
                "doing",
                "What are the people in the meeting room with the flip chart doing?",
                "sitting still at the desks, facing the camera",
                (
                    "standing and applauding",
                    "writing on the flip chart",
                    "walking out through the door",
                ),
            ),
            _f(
                "count",
                "How many people sit in the meeting room with the flip chart?",
                "4",
                ("2", "3", "6"),
            ),
            _f(
                "count",
                "How many people sit in the back row of the meeting room with the flip chart?",
                "2",
                ("1", "3", "4"),
            ),
            _f(
                "colour",
                "What colour are the chairs in the meeting room with the flip chart?",
                "blue",
                ("red", "black", "green"),
            ),
            _f(
                "colour",
                "What colour are the desks in the meeting room with the flip chart?",
                "white",
                ("dark brown wood", "black", "yellow"),
            ),
            _f(
                "who",
                "In the meeting room, who sits closest to the flip chart?",
                "a man with glasses and reddish hair in a dark T-shirt",
                (
                    "a woman in a white blouse",
                    "a man in a dark grey sweater",
                    "a teacher standing at the flip chart",
                ),
            ),
            _f(
                "doing",
                "In the meeting room, what does the man at the front desk nearest the window do "
                "with his hands?",
                "rests them clasped on the desk",
                ("types on a laptop", "writes in a notebook", "holds a phone to his ear"),
            ),
        ),
    ),
    Clip(
        "face-demographics-walking.mp4",
        "the two people walking down a corridor",
        (
            _f(
                "what",
                "What hangs from the ceiling of the corridor the two people walk down?",
                "a glowing lamp",
                ("a flag", "a clock", "an exit sign"),
            ),
            _f(
                "who",
                "Who walks down the corridor on the left, beside the man?",
                "a woman in a white dress",
                ("a child on a scooter", "a man in a suit", "a woman in a red coat"),
            ),
            _f(
                "who",
                "Who walks down the corridor on the right, beside the woman?",
                "a man with glasses in a dark short-sleeved shirt and jeans",
                (
                    "a police officer in uniform",
                    "an old man with a walking stick",
                    "a man carrying a large box",
                ),
            ),
            _f(
                "doing",
                "What are the two people in the corridor doing?",
                "walking toward the camera",
                ("walking away from the camera", "standing and chatting", "running"),
            ),
            _f(
                "count",
                "How many people walk down the corridor?",
                "2",
                ("1", "3", "4"),
            ),
            _f(
                "colour",
                "What colour is the dress of the woman walking down the corridor?",
                "white",
                ("red", "black", "yellow"),
            ),
            _f(
                "count",
                "How many of the people walking down the corridor wear glasses?",
                "1",
                ("0", "2", "3"),
            ),
            _f(
                "colour",
                "What colour are the embroidered panels down the front of the shirt of the man "
                "walking down the corridor?",
                "white",
                ("red", "yellow", "green"),
            ),
            _f(
                "colour",
                "What colour are the trousers of the man walking down the corridor?",
                "blue (jeans)",
                ("black", "beige", "red"),
            ),
            _f(
                "who",
                "In the corridor, who walks nearer the glass door on the right?",
                "the man with glasses in a dark shirt",
                ("the woman in the white dress", "a cleaner with a mop", "a child on a scooter"),
            ),
            _f(
                "doing",
                "How do the two people move down the corridor?",
                "side by side, a little apart",
                (
                    "in single file, one behind the other",
                    "toward each other from opposite ends",
                    "holding hands",
                ),
            ),
            _f(
                "count",
                "How many of the people walking down the corridor wear a dress?",
                "1",
                ("0", "2", "3"),
            ),
        ),
    ),
    # SOURCES.md says "a white surface": the frames show a dark conveyor belt before a white
    # wall; items enter at the right and leave at the left.
    Clip(
        "fruit-and-vegetable-detection.mp4",
        "the produce riding a conveyor belt",
        (
            _f(
                "what",
                "Which of these rides along the conveyor belt?",
                "broccoli",
                ("a banana", "a carrot", "a tomato"),
            ),
            _f(
                "what",
                "Which white vegetable rides along the conveyor belt?",
                "a cauliflower",
                ("a white onion", "a turnip", "a bulb of garlic"),
            ),
            _f(
                "doing",
                "In which direction do the items on the conveyor belt move across the picture?",
                "from right to left",
                ("from left to right", "toward the camera", "up a slope"),
            ),
            _f(
                "count",
                "How many items ride along the conveyor belt?",
                "4",
                ("2", "3", "6"),
            ),
            _f(
                "colour",
                "What colour is the apple on the conveyor belt?",
                "green",
                ("red", "yellow", "brown"),
                (0.4, 2.4),
            ),
            _f(
                "count",
                "How many of the items on the conveyor belt are round fruits?",
                "2",
                ("0", "1", "4"),
            ),
            _f(
                "colour",
                "What colour is the wall behind the conveyor belt?",
                "white",
                ("blue", "green", "red"),
            ),
            _f(
                "colour",
                "What colour is the conveyor belt the produce rides on?",
                "black",
                ("white", "green", "blue"),
            ),
            _f(
                "order",
                "Which item rides along the conveyor belt first?",
                "a green apple",
                ("broccoli", "a cauliflower", "an orange"),
            ),
            _f(
                "order",
                "Which item comes last along the conveyor belt?",
                "an orange",
                ("a green apple", "broccoli", "a cauliflower"),
            ),
        ),
        (
            Moment("the green apple on the conveyor belt", 0.4, 2.4),
            Moment("the broccoli on the conveyor belt", 1.5, 3.4),
            Moment("the cauliflower on the conveyor belt", 4.0, 6.0),
            Moment("the orange on the conveyor belt", 5.3, 6.8),
        ),
        (
            OpenQuestion(
                "What passes along the conveyor belt, in order?",
                "Four items, one after another from right to left on a dark belt: a green apple, "
                "broccoli, a cauliflower, then an orange.",
            ),
        ),
    ),
    Clip(
        "head-pose-face-detection-female-and-male.mp4",
        "the man and woman tilting their heads against a plain wall",
        (
            _f(
                "what",
                "What is behind the man and woman who tilt their heads?",
                "a plain light-grey wall",
                ("a bookshelf", "a window onto a street", "a brick fireplace"),
            ),
            _f(
                "who",
                "Who stands on the left, beside the man in the navy T-shirt, against the plain "
                "wall?",
                "a woman with long dark hair in a sleeveless top",
                (
                    "a girl with blonde pigtails",
                    "an old man with a beard",
                    "a woman in a wide red hat",
                ),
            ),
            _f(
                "who",
                "Who stands on the right against the plain wall, beside the woman with long dark "
                "hair?",
                "a man with short dark hair in a navy T-shirt",
                ("a bald man in a suit", "a teenage girl", "an old woman in glasses"),
            ),
            _f(
                "doing",
                "What do the man and woman standing against the plain wall do?",
                "tilt and turn their heads",
                ("shake hands", "dance together", "eat sandwiches"),
            ),
            _f(
                "count",
                "How many people stand against the plain wall tilting their heads?",
                "2",
                ("1", "3", "4"),
            ),
            _f(
                "colour",
                "What colour is the T-shirt of the man tilting his head against the plain wall?",
                "navy blue",
                ("red", "white", "yellow"),
            ),
            _f(
                "count",
                "How many of the people standing against the plain wall have long hair?",
                "1",
                ("0", "2", "3"),
            ),
        ),
    ),
    Clip(
        "person-bicycle-car-detection.mp4",
        "the overhead view of a parking lot",
        (
            _f(
                "what",
                "What vehicle drives through the parking lot seen from above?",
                "a silver hatchback car",
                ("a yellow school bus", "a motorbike", "a pickup truck"),
            ),
            _f(
                "what",
                "What is painted on the surface of the parking lot seen from above?",
                "white parking-bay lines",
                ("a yellow zebra crossing", "a large red arrow", "the word STOP"),
            ),
            _f(
                "who",
                "Who crosses the top of the parking lot while the car drives in?",
                "a cyclist",
                ("a man pushing a shopping trolley", "a police officer on a horse", "a jogger"),
            ),
            _f(
                "doing",
                "What does the car in the parking lot seen from above do?",
                "drives away from the camera, then turns left",
                (
                    "reverses toward the camera",
                    "stays parked the whole time",
                    "drives in a straight line toward the camera",
                ),
            ),
            _f(
                "doing",
                "What does the cyclist in the parking lot seen from above do?",
                "rides across the lot toward the right",
                ("falls off the bicycle", "stops and chains the bicycle", "rides in circles"),
            ),
            _f(
                "count",
                "How many bicycles cross the parking lot seen from above?",
                "1",
                ("2", "3", "4"),
            ),
            _f(
                "count",
                "How many cars are in the parking lot seen from above?",
                "1",
                ("2", "3", "5"),
            ),
            _f(
                "colour",
                "What colour is the bicycle crossing the parking lot?",
                "white",
                ("red", "black", "yellow"),
            ),
            _f(
                "colour",
                "What colour is the car in the parking lot seen from above?",
                "light silver-blue",
                ("bright red", "black", "yellow"),
            ),
            _f(
                "who",
                "Who walks across the top left of the parking lot seen from above, at the start?",
                "a person on foot",
                (
                    "a man pushing a pram",
                    "a child on a scooter",
                    "a parking attendant in a yellow vest",
                ),
                (0.0, 1.3),
            ),
            _f(
                "count",
                "How many people on foot are seen in the parking lot seen from above?",
                "1",
                ("0", "3", "5"),
                (0.0, 1.3),
            ),
        ),
    ),
    Clip(
        "store-aisle-detection.mp4",
        "the shop aisle lined with shelves of crockery",
        (
            _f(
                "what",
                "What is stacked on the shelves of the shop aisle?",
                "white dishes, bowls and mugs",
                ("tinned food", "folded clothes", "books"),
            ),
            _f(
                "what",
                "In the shop aisle, what white items stand on the low table nearest the camera?",
                "teapots",
                ("vases of flowers", "candles", "milk bottles"),
            ),
            _f(
                "what",
                "In the shop aisle, what does the older man in the olive-green jacket wear on his "
                "head?",
                "a straw hat",
                ("a baseball cap", "a knitted beanie", "a bicycle helmet"),
            ),
            _f(
                "who",
                "Who wears a hat in the shop aisle?",
                "an older man in an olive-green jacket",
                (
                    "a young woman with a ponytail",
                    "a shop assistant in an apron",
                    "a child on a parent's shoulders",
                ),
            ),
            _f(
                "who",
                "Who walks into the shop aisle from the bottom of the picture?",
                "a blonde woman in a brown jacket",
                (
                    "a boy with a red balloon",
                    "a shop assistant pushing a trolley",
                    "a man in a grey suit",
                ),
                (1.2, 4.5),
            ),
            _f(
                "doing",
                "In the shop aisle, what is the woman in the teal jacket doing?",
                "reaching up to a high shelf",
                ("pushing a shopping trolley", "paying at a till", "sitting on the floor"),
            ),
            _f(
                "count",
                "How many shoppers are seen in the shop aisle lined with crockery?",
                "3",
                ("1", "2", "5"),
            ),
            _f(
                "count",
                "How many of the shoppers in the shop aisle wear a hat?",
                "1",
                ("0", "2", "3"),
            ),
            _f(
                "colour",
                "In the shop aisle, what colour is the jacket of the woman reaching up to a shelf?",
                "teal",
                ("red", "yellow", "white"),
            ),
            _f(
                "colour",
                "What colour are nearly all the dishes on the shelves of the shop aisle?",
                "white",
                ("blue", "red", "green"),
            ),
            _f(
                "who",
                "Who reaches up to a high shelf in the shop aisle?",
                "a woman with a dark ponytail in a teal jacket",
                (
                    "the older man in the straw hat",
                    "a shop assistant on a ladder",
                    "a small boy",
                ),
            ),
            _f(
                "doing",
                "In the shop aisle, what is the older man in the straw hat doing at the start?",
                "touching the dishes on the display table",
                ("pushing a shopping trolley", "talking on a phone", "reading a price list"),
                (0.0, 1.6),
            ),
            _f(
                "count",
                "How many shoppers are in the shop aisle at the very start, before anyone walks "
                "in?",
                "2",
                ("1", "3", "4"),
                (0.0, 1.1),
            ),
            _f(
                "colour",
                "What colour is the pillar at the left side of the shop aisle?",
                "blue",
                ("red", "yellow", "black"),
            ),
            _f(
                "colour",
                "In the shop aisle, what colour is the jacket of the blonde woman who walks in?",
                "brown",
                ("pink", "white", "bright green"),
                (1.2, 4.5),
            ),
            _f(
                "who",
                "Who is at the display table in the middle of the shop aisle at the start?",
                "an older man in an olive-green jacket and a straw hat",
                (
                    "a blonde woman in a brown jacket",
                    "a shop assistant in an apron",
                    "a child holding a balloon",
                ),
                (0.0, 1.1),
            ),
            _f(
                "doing",
                "In the shop aisle, what does the blonde woman in the brown jacket do?",
                "walks into the aisle, away from the camera",
                (
                    "pushes a shopping trolley",
                    "kneels to look at a low shelf",
                    "carries a stack of plates to the till",
                ),
                (1.2, 4.5),
            ),
            _f(
                "count",
                "How many of the shoppers in the shop aisle have blonde hair?",
                "1",
                ("0", "2", "3"),
            ),
        ),
        (Moment("the blonde woman walking into the shop aisle", 1.2, 4.5),),
        (
            OpenQuestion(
                "Describe the people in the shop aisle and what they do.",
                "Three shoppers among shelves of white dishes: an older man in a straw hat and "
                "olive-green jacket looking at the dishes, a woman with a dark ponytail in a teal "
                "jacket reaching up to a high shelf, and a blonde woman in a brown jacket who "
                "walks in from the bottom of the picture.",
            ),
        ),
    ),
    Clip(
        "worker-zone-detection.mp4",
        "the warehouse floor marked with red lines",
        (
            _f(
                "what",
                "What marks the warehouse floor?",
                "red lines and a yellow-and-black striped line",
                ("blue arrows", "a chequered pattern of tiles", "painted footprints"),
            ),
            _f(
                "who",
                "Who walks across the warehouse floor marked with red lines?",
                "a worker in a hard hat and high-visibility vest",
                ("a forklift driver", "a woman with a clipboard", "a security guard with a dog"),
            ),
            _f(
                "doing",
                "What does the person on the warehouse floor do?",
                "walks away from the camera",
                ("walks toward the camera", "drives a forklift", "stacks boxes"),
            ),
            _f(
                "count",
                "How many people are on the warehouse floor marked with red lines?",
                "1",
                ("2", "3", "4"),
            ),
            _f(
                "colour",
                "What colour is the hard hat of the worker on the warehouse floor?",
                "yellow",
                ("white", "red", "blue"),
            ),
            _f(
                "colour",
                "What colour is the bin against the back wall of the warehouse floor?",
                "blue",
                ("red", "yellow", "green"),
            ),
            _f(
                "colour",
                "What colour is the vest of the worker on the warehouse floor?",
                "orange",
                ("green", "blue", "pink"),
            ),
            _f(
                "count",
                "How many forklifts are on the warehouse floor marked with red lines?",
                "0",
                ("1", "2", "3"),
            ),
        ),
    ),
    Clip(
        "ntu_drink_water.mp4",
        "the woman standing alone in a large bright room",
        (
            _f(
                "what",
                "What does the woman standing alone in the large bright room hold?",
                "a white cup",
                ("a mobile phone", "a book", "an umbrella"),
            ),
            _f(
                "what",
                "What does the woman standing alone in the large bright room wear on her feet?",
                "sandals",
                ("knee-high boots", "ice skates", "nothing: she is barefoot"),
            ),
            _f(
                "who",
                "Who stands alone in the large bright room with white walls?",
                "a woman in a black T-shirt and patterned trousers",
                ("a man in a suit", "a child in pyjamas", "a woman in a long red dress"),
            ),
            _f(
                "doing",
                "What does the woman standing alone in the large bright room do?",
                "drinks from a cup",
                ("talks on a phone", "ties her shoelaces", "waves at the camera"),
            ),
            _f(
                "colour",
                "What colour is the cup the woman standing alone in the large bright room holds?",
                "white",
                ("red", "black", "green"),
            ),
            _f(
                "colour",
                "What colour is the T-shirt of the woman standing alone in the large bright room?",
                "black",
                ("white", "red", "yellow"),
            ),
            _f(
                "who",
                "Who drinks from a white cup in the large bright room?",
                "a woman with her dark hair tied back, in a black T-shirt",
                (
                    "a man with glasses in a grey T-shirt",
                    "a girl in a school uniform",
                    "an old man with a walking stick",
                ),
            ),
            _f(
                "doing",
                "Before she drinks, what does the woman standing alone in the large bright room do "
                "with the cup?",
                "holds it in both hands in front of her waist",
                ("fills it from a bottle", "puts it down on the table", "hands it to someone"),
                (0.0, 1.0),
            ),
            _f(
                "count",
                "How many people are seen in the large bright room where the woman drinks from a "
                "cup?",
                "1",
                ("2", "3", "4"),
            ),
        ),
        (),
        (
            OpenQuestion(
                "What does the woman standing alone in the large bright room do?",
                "She stands still and lifts a white cup to her mouth to drink.",
            ),
        ),
    ),
    Clip(
        "skeleton_demo.mp4",
        "the two men in a large bright room",
        (
            _f(
                "what",
                "In the large bright room where two men meet, what lies on the chair behind them?",
                "a straw hat",
                ("a laptop", "a sleeping cat", "a guitar"),
            ),
            _f(
                "who",
                "In the large bright room, who is the man in the grey T-shirt with?",
                "a man in a black jacket with a red collar",
                ("a woman in a white dress", "a boy with a football", "a man in a chef's uniform"),
            ),
            _f(
                "who",
                "Of the two men in the large bright room, who wears glasses?",
                "the man in the grey T-shirt",
                ("the man in the black jacket", "both men", "neither man"),
            ),
            _f(
                "doing",
                "What do the two men in the large bright room do?",
                "hug each other",
                ("shake hands", "box", "dance a waltz"),
            ),
            _f(
                "colour",
                "In the large bright room where two men hug, what colour is the chair at the "
                "right?",
                "lime green",
                ("red", "black", "blue"),
            ),
            _f(
                "colour",
                "What colour is the collar of the black jacket worn by one of the two men in the "
                "large bright room?",
                "red",
                ("white", "yellow", "green"),
            ),
            _f(
                "colour",
                "What colour is the jacket of the man without glasses in the large bright room?",
                "black",
                ("white", "yellow", "light blue"),
            ),
            _f(
                "who",
                "In the large bright room, who stands on the left at the start, before the two men "
                "hug?",
                "the man with glasses in a grey T-shirt",
                (
                    "the man in the black jacket",
                    "a woman in a white dress",
                    "a man in a chef's uniform",
                ),
                (0.0, 0.6),
            ),
            _f(
                "doing",
                "Before they hug, what do the two men in the large bright room do?",
                "stand side by side, facing the camera",
                ("shake hands", "sit on the chairs", "walk in through a door"),
                (0.0, 0.6),
            ),
            _f(
                "count",
                "How many of the men in the large bright room wear glasses?",
                "1",
                ("0", "2", "3"),
            ),
        ),
        (),
        (
            OpenQuestion(
                "What happens between the two men in the large bright room?",
                "The man in the grey T-shirt and glasses reaches toward the man in the black "
                "jacket and the two embrace.",
            ),
        ),
    ),
)


# --- building the video ---------------------------------------------------------------------


def _probe_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        if s.duration and s.time_base:
            return float(s.duration * s.time_base)
        if c.duration:
            return c.duration / 1_000_000
    return 0.0


def _fit(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Letterbox ``img`` into ``width x height`` keeping its aspect ratio."""
    from PIL import Image

    h, w = img.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(2, int(w * scale)), max(2, int(h * scale))
    small = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BILINEAR))
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - nh) // 2, (width - nw) // 2
    canvas[y : y + nh, x : x + nw] = small
    return canvas


def _frame_times(path: Path) -> list[float]:
    """Presentation times of every decodable frame (decoded, not converted)."""
    import av

    times: list[float] = []
    try:
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                if f.time is not None:
                    times.append(float(f.time))
    except av.FFmpegError as err:
        raise VideoError(path, f"cannot decode ({err})") from err
    if not times:
        raise VideoError(path, "no video frames")
    return times


def clip_ticks(path: Path, fps: float) -> int:
    """How many output frames the clip takes at ``fps`` (one per tick from its first frame)."""
    times = _frame_times(path)
    return max(1, int((times[-1] - times[0]) * fps) + 1)


def _iter_clip_frames(
    path: Path, fps: float, width: int, height: int, n_ticks: int
) -> Iterator[np.ndarray]:
    """The clip resampled to ``fps``: tick ``k`` shows the latest frame at or before ``k/fps``.

    Streams: only the frames a tick shows are converted and scaled, so a 1080p clip never sits
    in memory whole.
    """
    import av

    emitted = 0
    pending: Any = None  # latest decoded frame at or before the next tick
    pending_img: np.ndarray | None = None
    t0: float | None = None

    def img() -> np.ndarray:
        nonlocal pending_img
        if pending_img is None:
            pending_img = _fit(pending.to_ndarray(format="rgb24"), width, height)
        return pending_img

    try:
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                if f.time is None:
                    continue
                if t0 is None:
                    t0 = float(f.time)
                t = float(f.time) - t0
                while pending is not None and emitted < n_ticks and emitted / fps < t:
                    yield img()
                    emitted += 1
                if emitted >= n_ticks:
                    return
                pending, pending_img = f, None
    except av.FFmpegError as err:
        raise VideoError(path, f"cannot decode ({err})") from err
    if pending is None:
        raise VideoError(path, "no video frames")
    while emitted < n_ticks:
        yield img()
        emitted += 1


FILLER_CYCLE = 60  # distinct filler frames; reused in a loop so long fillers cost no compute


def _filler(k: int, width: int, height: int) -> np.ndarray:
    """Slowly drifting dim gradient: moving, but carrying nothing a question could ask about."""
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    phase = k / FILLER_CYCLE
    g = 0.25 + 0.15 * np.sin(2 * np.pi * (x + y + phase))
    img = np.stack([g, g * 0.9, g * 1.1], axis=-1)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def missing_source_message(videos_dir: Path) -> str | None:
    """Why the real clips cannot be used (folder or every clip absent), or None when they can."""
    if not Path(videos_dir).is_dir():
        return (
            f"real clips folder {videos_dir} is absent (it lives beside the checkout as "
            "../shared/data/videos); the real-clips haystack is skipped"
        )
    if not any((Path(videos_dir) / c.file).is_file() for c in CLIPS):
        return f"none of the real-haystack clips is in {videos_dir}; the benchmark is skipped"
    return None


def build(
    videos_dir: Path,
    out: Path,
    minutes: float = 10.0,
    seed: int = 0,
    *,
    fps: float = 10.0,
    width: int = 640,
    height: int = 360,
    clips: Sequence[Clip] = CLIPS,
) -> dict[str, Any]:
    """Write ``out`` (.mp4) and ``out.with_suffix('.json')``; return the manifest.

    Clips go at seeded offsets, in a seeded order, never touching each other; the rest is filler.
    Clips missing from ``videos_dir`` are left out and listed in the manifest's ``missing``.
    """
    import av

    videos_dir = Path(videos_dir)
    why = missing_source_message(videos_dir)
    if why:
        raise VideoError(videos_dir, why)
    available = [c for c in clips if (videos_dir / c.file).is_file()]
    missing = [c.file for c in clips if not (videos_dir / c.file).is_file()]
    if not available:
        raise VideoError(videos_dir, "none of the haystack clips is there")
    rng = random.Random(seed)
    rng.shuffle(available)
    lengths = [clip_ticks(videos_dir / c.file, fps) for c in available]
    total = int(minutes * 60 * fps)
    clip_frames = sum(lengths)
    if clip_frames + len(available) + 1 > total:
        raise VideoError(out, f"{minutes} min is too short for {clip_frames / fps:.0f} s of clips")
    # Split the filler into len(clips)+1 gaps of seeded, positive lengths.
    free = total - clip_frames
    cuts = sorted(rng.sample(range(1, free), len(available)))
    gaps = [b - a for a, b in zip([0, *cuts], [*cuts, free], strict=True)]
    out.parent.mkdir(parents=True, exist_ok=True)
    placed: list[dict[str, Any]] = []
    k = 0
    tmp = out.with_name(f".{out.name}.partial")
    with av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28", "g": str(int(fps * 4))}

        def emit(img: np.ndarray) -> None:
            nonlocal k
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
            k += 1

        cycle = [_filler(i, width, height) for i in range(FILLER_CYCLE)]
        parts: list[tuple[Clip | None, int]] = [*zip(available, lengths, strict=True), (None, 0)]
        for gap, (clip, n) in zip(gaps, parts, strict=True):
            for _ in range(gap):
                emit(cycle[(k // 3) % FILLER_CYCLE])
            if clip is not None:
                start = k
                for img in _iter_clip_frames(videos_dir / clip.file, fps, width, height, n):
                    emit(img)
                placed.append({"file": clip.file, "t_start": start / fps, "t_end": k / fps})
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(out)
    manifest = {
        "kind": "real_haystack",
        "version": 2,
        "duration_s": total / fps,
        "minutes": minutes,
        "seed": seed,
        "fps": fps,
        "width": width,
        "height": height,
        "video": out.name,
        "clips": placed,
        "missing": missing,
        "source": str(videos_dir),
    }
    out.with_suffix(".json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


# --- questions ------------------------------------------------------------------------------


def _span(p: dict[str, Any], at: tuple[float, float] | None) -> tuple[float, float]:
    """A span inside a placed clip (seconds into the clip) on the haystack's timeline."""
    a, b = float(p["t_start"]), float(p["t_end"])
    if at is None:
        return (a, b)
    return (round(min(a + at[0], b), 3), round(min(a + at[1], b), 3))


def _clock_span(s: tuple[float, float]) -> str:
    return f"{format_clock(s[0])}-{format_clock(s[1])}"


def _shuffled(rng: random.Random, gold: str, wrong: Sequence[str]) -> tuple[dict[str, str], str]:
    choices = [gold, *wrong]
    rng.shuffle(choices)
    return dict(zip(LETTERS, choices, strict=True)), LETTERS[choices.index(gold)]


def _disjoint(a: tuple[float, float], b: tuple[float, float], margin: float = 1.0) -> bool:
    return a[1] + margin < b[0] or b[1] + margin < a[0]


def build_questions(
    manifest: dict[str, Any], video_key: str, *, include_open: bool = False
) -> list[QARecord]:
    """Questions about the placed clips, in placement order, then the cross-clip *order* set.

    Per clip: every :class:`ClipFact` (kinds what/who/doing/count/colour/order), a *when*
    question for the clip and one per :class:`Moment`.  Then ``ORDER_ROUNDS`` rounds of "which
    of these is shown first" over four placed clips.  With ``include_open`` the open-ended
    questions follow, excluded from scoring (reference answer in ``meta["reference"]``).
    """
    facts = {c.file: c for c in CLIPS}
    seed = manifest.get("seed", 0)
    duration = float(manifest["duration_s"])
    placed = sorted(
        (p for p in manifest.get("clips", []) if p.get("file") in facts),
        key=lambda p: float(p["t_start"]),
    )
    out: list[QARecord] = []

    def rec(
        qid: str,
        kind: str,
        question: str,
        options: dict[str, str],
        answer: str | None,
        spans: list[tuple[float, float]],
        meta: dict[str, Any],
        excluded: str | None = None,
    ) -> None:
        out.append(
            QARecord(
                uid=f"{video_key}:{qid}",
                video_key=video_key,
                question=question,
                options=options,
                answer=answer,
                categories=[kind],
                reference_spans=spans,
                duration_s=duration,
                excluded=excluded,
                meta=meta,
            )
        )

    # Every window a "when" question could name: each clip and each moment, on the timeline.
    windows: list[tuple[str, tuple[float, float]]] = []
    for p in placed:
        clip = facts[p["file"]]
        windows.append((clip.file, _span(p, None)))
        windows.extend((clip.file, _span(p, (m.start, m.end))) for m in clip.moments)

    def when(qid: str, clip: Clip, label: str, span: tuple[float, float]) -> None:
        rng = random.Random(f"{seed}:{clip.file}:{qid}")
        others = [w for f, w in windows if f != clip.file and _disjoint(w, span)]
        others = list(dict.fromkeys(others))
        rng.shuffle(others)
        length = span[1] - span[0]
        tries = 0
        while len(others) < 3 and tries < 1000:
            tries += 1
            s = float(round(rng.uniform(0, max(duration - length, 1))))
            cand = (s, round(s + length, 3))
            if _disjoint(cand, span) and all(_disjoint(cand, o, 0) for o in others):
                others.append(cand)
        if len(others) < 3:
            return
        texts = [_clock_span(w) for w in [span, *others[:3]]]
        if len(set(texts)) < 4:
            return
        opts, ans = _shuffled(rng, texts[0], texts[1:])
        rec(
            f"{clip.file}:{qid}",
            "when",
            f"When is {label} shown?",
            opts,
            ans,
            [span],
            {"clip": clip.file},
        )

    for p in placed:
        clip = facts[p["file"]]
        seen: dict[str, int] = {}
        for fact in clip.facts:
            i = seen.get(fact.kind, 0)
            seen[fact.kind] = i + 1
            rng = random.Random(f"{seed}:{clip.file}:{fact.kind}:{i}")
            opts, ans = _shuffled(rng, fact.answer, fact.wrong)
            rec(
                f"{clip.file}:{fact.kind}{i}",
                fact.kind,
                fact.question,
                opts,
                ans,
                [_span(p, fact.at)],
                {"clip": clip.file},
            )
        when("when", clip, clip.description, _span(p, None))
        for j, m in enumerate(clip.moments):
            when(f"when{j + 1}", clip, m.label, _span(p, (m.start, m.end)))

    # Which came first, across clips: each placed clip with three others, ORDER_ROUNDS times.
    if len(placed) >= 4:
        asked: set[frozenset[str]] = set()
        for r in range(ORDER_ROUNDS):
            for p in placed:
                rng = random.Random(f"{seed}:order:{r}:{p['file']}")
                pick = [p, *rng.sample([q for q in placed if q is not p], 3)]
                key = frozenset(q["file"] for q in pick)
                if key in asked:
                    continue
                asked.add(key)
                first = min(pick, key=lambda q: float(q["t_start"]))
                labels = [facts[q["file"]].description for q in pick]
                gold = facts[first["file"]].description
                opts, ans = _shuffled(rng, gold, [x for x in labels if x != gold])
                rec(
                    f"order:{r}:{p['file']}",
                    "order",
                    "Which of these is shown first in the video?",
                    opts,
                    ans,
                    [_span(first, None)],
                    {"clips": [q["file"] for q in pick]},
                )
    _balance_letters(out, random.Random(f"{seed}:{video_key}:letters"))
    if include_open:
        for p in placed:
            clip = facts[p["file"]]
            for i, q in enumerate(clip.open):
                rec(
                    f"{clip.file}:open{i}",
                    "open",
                    q.question,
                    {},
                    None,
                    [_span(p, q.at)],
                    {"clip": clip.file, "reference": q.reference},
                    excluded="open-ended: compare with meta.reference (not scored by letter)",
                )
    return out


def _balance_letters(records: list[QARecord], rng: random.Random) -> None:
    """Move each gold option to a letter drawn from an evenly filled, shuffled deck, so every
    letter is the answer equally often (to within one) and an always-the-same-letter guess
    scores chance.  The wrong options keep their seeded order around it."""
    deck = [LETTERS[i % len(LETTERS)] for i in range(len(records))]
    rng.shuffle(deck)
    for rec, letter in zip(records, deck, strict=True):
        if rec.answer is None or len(rec.options) != len(LETTERS):
            continue
        gold = rec.options[rec.answer]
        rest = [t for k, t in rec.options.items() if k != rec.answer]
        at = LETTERS.index(letter)
        texts = [*rest[:at], gold, *rest[at:]]
        rec.options = dict(zip(LETTERS, texts, strict=True))
        rec.answer = letter


def question_counts(records: Sequence[QARecord]) -> dict[str, int]:
    """Questions per kind (first category), in :data:`QUESTION_KINDS` order, then the rest."""
    counts: dict[str, int] = {}
    for r in records:
        k = r.categories[0] if r.categories else "?"
        counts[k] = counts.get(k, 0) + 1
    order = [*QUESTION_KINDS, *sorted(set(counts) - set(QUESTION_KINDS))]
    return {k: counts[k] for k in order if k in counts}
