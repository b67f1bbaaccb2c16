#!/usr/bin/env python3
"""Writes instructions.jsonl: the built-in prompt set of `sluice bench --dataset builtin`.

The prompts are composed from hand-written parts below (topics, tasks, audiences, formats and
short passages written for this project), so the set is varied in length and kind, has no
licensing strings attached, and is reproducible: the same script always writes the same file.
Three kinds, in a fixed interleaved order so that any prefix of the set has all three:
  short   a direct question or instruction (5-30 tokens)
  medium  an instruction with audience, format and constraints (30-120 tokens)
  long    a passage followed by a task about it (150-700 tokens)

    python3 crates/sluice-bench/data/make_instructions.py
"""
import json
import pathlib
import random

TOPICS = [
    "photosynthesis", "the water cycle", "compound interest", "how vaccines work",
    "the French Revolution", "plate tectonics", "binary search", "public key cryptography",
    "the causes of inflation", "how a refrigerator works", "black holes", "the Silk Road",
    "sourdough bread", "the immune system", "supply and demand", "the printing press",
    "garbage collection in programming languages", "ocean tides", "the Roman aqueducts",
    "how bees communicate", "the stock market", "climate feedback loops", "jazz improvisation",
    "the history of the bicycle", "how GPS works", "volcanoes", "the human heart",
    "recursion", "the Renaissance", "electric cars", "coral reefs", "the blockchain",
    "how airplanes fly", "sleep and memory", "the Great Wall of China", "solar panels",
    "the theory of evolution", "how search engines rank pages", "rainbows", "the metric system",
    "hash tables", "the Apollo program", "composting", "the placebo effect", "glaciers",
    "TCP and UDP", "the origin of chess", "how batteries store energy", "urban gardening",
    "the printing of money by central banks", "cloud formation", "the Moon's phases",
]

SHORT_TASKS = [
    "Explain {t} in one sentence.",
    "What is the most surprising fact about {t}?",
    "Give three key terms related to {t}.",
    "Why does {t} matter?",
    "Write a haiku about {t}.",
    "Summarize {t} for a ten-year-old.",
    "List two common misconceptions about {t}.",
    "Ask me a quiz question about {t}.",
    "What would happen if {t} did not exist?",
    "Give an analogy that explains {t}.",
]

STANDALONE_SHORT = [
    "What is the capital of Australia?", "Translate 'good morning' into Spanish.",
    "Name three primary colors.", "How many minutes are in a week?",
    "Write a limerick about a cat who codes.", "Suggest a name for a bakery.",
    "What is 17 times 23?", "Give me a synonym for 'happy'.",
    "Is a tomato a fruit or a vegetable?", "Write a one-line motivational quote.",
    "What rhymes with orange?", "Recommend a board game for four players.",
    "Convert 100 degrees Fahrenheit to Celsius.", "Spell 'necessary' backwards.",
    "Tell me a short joke about computers.", "What day comes after Thursday?",
    "List the planets of the solar system in order.", "Define the word 'ephemeral'.",
    "Write a tweet announcing a new coffee shop.", "What is the plural of 'cactus'?",
]

AUDIENCES = [
    "a high-school student", "a busy executive", "a curious child", "a retired engineer",
    "a first-year university student", "someone who speaks English as a second language",
    "a journalist writing a news story", "a software developer", "a museum visitor",
    "a nurse on a night shift",
]

FORMATS = [
    "as a numbered list of five points", "in two short paragraphs", "as a dialogue between two friends",
    "as a table with two columns", "in exactly three sentences", "as a short story",
    "as a list of questions and answers", "in the style of a news report",
    "as step-by-step instructions", "as a persuasive letter",
]

CONSTRAINTS = [
    "Avoid jargon.", "Include one concrete example.", "End with a question for the reader.",
    "Do not use the letter z.", "Keep it under 150 words.", "Mention one common mistake.",
    "Use a friendly tone.", "Add a one-line summary at the end.", "Compare it with something familiar.",
    "Include a surprising statistic, and say if it is an estimate.",
]

MEDIUM_TASKS = [
    "Explain {t} to {a} {f}.",
    "Write a lesson plan introduction on {t} for {a}, {f}.",
    "Describe the history of {t} for {a} {f}.",
    "Argue for and against spending public money on {t}, written for {a}, {f}.",
    "Draft a short blog post about {t} aimed at {a}, {f}.",
]

PASSAGES = [
    ("a town council memo",
     "The council met on Tuesday to discuss the future of the old river bridge. Engineers reported that "
     "the central pier has lost about a fifth of its strength since the last inspection, mostly because "
     "winter floods have washed away the gravel around its base. Three options were presented. The first "
     "is to repair the pier and add a steel collar, which would cost the least and close the bridge for "
     "four months. The second is to build a new bridge two hundred meters upstream, which would take three "
     "years and require buying land from two farms. The third is to close the bridge to cars and keep it "
     "open for people on foot and on bicycles, while buses are sent around through the northern road. "
     "Several residents spoke. A shop owner said that a long closure would hurt business on Market Street. "
     "A parent said that children cross the bridge to reach school and asked for a safe path during any "
     "works. The council will vote next month after a public survey."),
    ("a product description",
     "The Heron kettle holds 1.2 liters and boils a full load in a little under four minutes. Its body is "
     "double-walled steel, so the outside stays cool enough to touch while the water inside stays hot for "
     "about an hour. A dial on the base sets the temperature in five steps, from 60 to 100 degrees, for "
     "green tea, white tea, coffee and baby formula. The kettle switches itself off when it is empty or "
     "when the lid is open. The filter in the spout can be removed and washed. Customers have praised how "
     "quiet it is, but some have said that the handle is too small for large hands and that the dial is "
     "hard to read in low light. The kettle comes with a two-year warranty and a cord that can be stored "
     "inside the base."),
    ("a field journal",
     "Day six. We left camp before sunrise and followed the dry streambed east. The birds were loud until "
     "about eight, then everything went quiet as the heat arrived. Marta counted forty-one swallows on the "
     "cliff face, which is nine more than last year, and we found two new nests under the overhang. In the "
     "afternoon the wind turned and brought dust from the plain, so we stopped early and checked the "
     "traps. One held a small lizard with a blue tail that none of us could name; we photographed it and "
     "let it go. Water is running lower than planned because one of the containers leaked during the "
     "drive. Tomorrow we will walk to the spring on the map and find out whether it still flows. If it "
     "does not, we will have to cut the trip short by two days."),
    ("a customer complaint",
     "I am writing about my order, which was supposed to arrive on the third of the month. It arrived on "
     "the eleventh, and the box had clearly been dropped: one corner was crushed and two of the six "
     "glasses inside were broken. I called your support line twice. The first time I waited forty minutes "
     "and the call was cut off. The second time a very polite agent promised a refund for the broken "
     "glasses within five working days, but it has now been three weeks and I have received nothing, not "
     "even an email. I have been a customer for many years and have always been happy until now. I would "
     "like either the refund or two replacement glasses, and I would like to know what went wrong so that "
     "it does not happen again."),
    ("a short history",
     "The first public libraries in many countries were not free. Readers paid a yearly fee, and the "
     "collections were chosen by the members who paid the most. In the nineteenth century reformers argued "
     "that a city should pay for a library from taxes, as it paid for roads and clean water, because "
     "reading made better workers and better citizens. Opponents said that people would borrow only "
     "novels and that the money would be wasted. The reformers won slowly, one town at a time, often with "
     "the help of wealthy donors who paid for the buildings on the condition that the town paid for the "
     "books and the staff. By the middle of the twentieth century the free public library was so common "
     "that few people remembered it had ever been controversial."),
    ("meeting notes",
     "Attendees: Priya, Tom, Wen, Alex. The launch is still planned for the fourteenth. Wen said the "
     "mobile app passed review but the payment screen still crashes on older phones; she thinks a fix is "
     "two days away. Tom reported that the marketing video is done but the voice-over must be recorded "
     "again because the product name changed. Alex raised the risk that the servers will not handle the "
     "expected traffic on launch day and proposed a load test on Friday. Priya agreed and asked Tom to "
     "move the press release to the following Monday if the load test fails. Action items: Wen fixes the "
     "payment crash, Alex runs the load test, Tom books the studio, Priya updates the launch checklist."),
    ("a recipe",
     "Soak two cups of dried chickpeas overnight in plenty of cold water. The next day, drain them and "
     "blend them with one small onion, three cloves of garlic, a large handful of parsley, a handful of "
     "coriander, two teaspoons of ground cumin, one teaspoon of salt and half a teaspoon of baking soda. "
     "Do not add water: the mixture should be coarse and hold together when squeezed. Let it rest in the "
     "fridge for an hour. Shape it into small balls, flatten them a little, and fry them in oil at about "
     "175 degrees until they are deep brown, about four minutes. Drain them on paper and serve them warm "
     "with tahini sauce, sliced tomatoes and pickled turnips."),
    ("an internal bug report",
     "Since version 4.2, exporting a report with more than ten thousand rows sometimes produces a file "
     "that cannot be opened. It happens on about one export in twenty and only when two users export at "
     "the same time. The log shows that both exports write to the same temporary file name, which is "
     "built from the current second. When the two exports start in the same second, one overwrites the "
     "other's data halfway through. A workaround is to retry the export. The proposed fix is to build the "
     "temporary name from a random identifier and to move the finished file into place in one step, so "
     "that a reader never sees a half-written file."),
]

LONG_TASKS = [
    "Summarize the text above in three bullet points.",
    "List every person or group mentioned above and what they want.",
    "Write a reply to the text above, in a polite and professional tone.",
    "What are the three most important facts in the text above? Explain why.",
    "Rewrite the text above for a child of eight.",
    "Write five questions that test whether someone understood the text above.",
    "Identify any risks or open problems in the text above and suggest what to do next.",
    "Turn the text above into a short news headline and a two-sentence lead.",
    "Translate the main points of the text above into plain, simple English.",
    "Which details in the text above would you check before acting on it, and why?",
    "Extract all numbers from the text above and say what each one measures.",
    "Write a one-paragraph critique of the text above: what is clear and what is missing?",
]


def short(rng):
    if rng.random() < 0.25:
        return rng.choice(STANDALONE_SHORT)
    return rng.choice(SHORT_TASKS).format(t=rng.choice(TOPICS))


def medium(rng):
    task = rng.choice(MEDIUM_TASKS).format(
        t=rng.choice(TOPICS), a=rng.choice(AUDIENCES), f=rng.choice(FORMATS))
    extra = " ".join(rng.sample(CONSTRAINTS, rng.randint(1, 3)))
    return f"{task} {extra}"


def long(rng):
    count = 1 if rng.random() < 0.7 else 2
    chosen = rng.sample(PASSAGES, count)
    intro = " and ".join(kind for kind, _ in chosen)
    body = "\n\n".join(text for _, text in chosen)
    task = rng.choice(LONG_TASKS)
    if count == 2:
        task = task.replace("the text above", "the two texts above")
    return f"Here is {intro}:\n\n{body}\n\n{task}"


def main():
    rng = random.Random(5)
    makers = [short, medium, short, long, medium]  # 40% short, 40% medium, 20% long
    prompts, seen = [], set()
    attempts = 0
    while len(prompts) < 400 and attempts < 100_000:
        attempts += 1
        p = makers[len(prompts) % len(makers)](rng)
        if p not in seen:
            seen.add(p)
            prompts.append(p)
    out = pathlib.Path(__file__).with_name("instructions.jsonl")
    with out.open("w", encoding="utf-8") as f:
        for p in prompts:
            f.write(json.dumps({"prompt": p}, ensure_ascii=False) + "\n")
    print(f"wrote {len(prompts)} prompts to {out}")


if __name__ == "__main__":
    main()
