#!/usr/bin/env python3
"""Writes the held-out happy/sad items of the method comparison (docs/evaluation.md). Deterministic; run from this folder.
Written by hand for OnnxSteer in the style of TinyStories. No name and no event here is in bench/selection's training or
held-out pairs; the profile is made from bench/selection/happy-sad.train.jsonl. Name-major order: the sweep's validation
slice (the first records) and its test slice (the rest) share no name, so the test names are unseen by every choice."""
import json

names = ["Jane", "Will", "Lisa", "Ryan", "Molly", "Jake", "Hannah", "Sophie", "Peter", "Alice", "Henry", "Clara",
         "Oscar", "Daisy", "Jacob", "Maya", "Susie", "Billy", "Polly", "Fred", "Lucas", "Ellie", "Mandy", "Sally"]
# Events of every kind: glad, sad and neither; the positive answer is always " happy" (the direction steered towards),
# so accuracy is the share of items where the model prefers " happy" to " sad".
events = [
    "{n} found a shiny coin on the road. {n} felt",
    "{n}'s kite flew high in the wind. {n} was",
    "The puppy licked {n}'s face. {n} was",
    "{n} dropped an ice cream on the floor. {n} was",
    "{n}'s best friend moved far away. {n} felt",
    "{n} made a sand castle at the lake. {n} was so",
    "It was dark and {n} heard a loud noise. {n} felt",
    "Dad gave {n} a big hug. {n} felt",
    "{n} broke a cup in the kitchen. {n} was",
    "{n} saw a rainbow after the storm. {n} was",
    "The bird in {n}'s garden sang a song. {n} felt",
    "{n}'s tower of blocks fell down. {n} was",
    "{n} won the race at school. {n} was very",
    "{n} had to go to bed early. {n} felt",
    "Grandpa told {n} a funny story. {n} was",
    "{n}'s red balloon popped. {n} felt",
]

with open("happy-sad.items.jsonl", "w") as f:
    for n in names:
        for e in events:
            f.write(json.dumps({"prompt": e.format(n=n), "positive": " happy", "negative": " sad"}) + "\n")
