#!/usr/bin/env python3
"""Writes the pairs and held-out prompts of the selection study (docs/selection.md). Deterministic; run from this folder.
Training and held-out sets share no name and no template."""
import json

train_names = ["Lily", "Tom", "Ben", "Sue", "Anna", "Max", "Mia", "Sam", "Lucy", "Tim", "Jack", "Amy", "Jill", "Bob",
               "Kate", "Joe", "Emma", "Leo", "Ella", "Dan", "Rose", "Ned", "Ivy", "Ted", "Meg", "Roy", "Kim", "Zack",
               "Nina", "Paul", "Lola", "Finn"]
held_names = ["Sara", "Mark", "Zoe", "Luke", "Ruby", "Noah", "Grace", "Owen", "Hope", "Eli", "Jade", "Adam", "Nora",
              "Carl", "Beth", "Dave"]

happy_train = [
    "{n} played with a ball all day. At the end of the day {n} felt very",
    "{n} lost a toy in the park. {n} was very",
    "One day, {n} got a new red bike. {n} was so",
    "{n} saw a big dog in the garden and felt",
    "{n} went to the beach with mom. {n} felt",
    "It was {n}'s birthday and there was a big cake. {n} was",
    "{n} could not find the way home. {n} felt",
    "{n}'s friend came to play. {n} was very",
]
happy_held = [
    "After school, {n} looked at the sky and felt",
    "{n} got a letter from grandma. {n} was",
    "The rain fell all day, and {n} stayed inside. {n} felt",
    "{n} heard a song on the radio and was",
]
# Story openers for greedy generation: the emotion is left open.
happy_gen = [
    "One day, {n} went to the park. {n} felt",
    "{n} looked out of the window. {n} was",
]

pets_train = [
    "{n} had a pet. It was a",
    "{n} wanted a pet. Mom got {n} a",
    "At the farm, {n} saw a little",
    "{n} went to the shop and came home with a",
]
pets_held = [
    "There was a pet in {n}'s house. It was a",
    "{n} walked in the garden with a",
]
pets_gen = [
    "{n} had a pet",
    "{n} loved animals. One day {n} found a",
]


def write(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def pairs(templates, names, pos, neg):
    # Name-major order: the first N lines of a file mix every template.
    return [{"prompt": t.format(n=n), "positive": pos, "negative": neg} for n in names for t in templates]


write("happy-sad.train.jsonl", pairs(happy_train, train_names, " happy", " sad"))             # 256 pairs
write("happy-sad.heldout.jsonl", pairs(happy_held, held_names, " happy", " sad"))             # 64 pairs
write("happy-sad.prompts.jsonl", [{"prompt": t.format(n=n)} for n in held_names for t in happy_gen])
write("dog-cat.train.jsonl", pairs(pets_train, train_names[:8], " dog.", " cat."))            # 32 pairs, as reported
write("dog-cat-word.train.jsonl", pairs(pets_train, train_names[:8], " dog", " cat"))         # same, ending at the word
write("dog-cat.heldout.jsonl", pairs(pets_held, held_names, " dog", " cat"))                  # 32 pairs
write("dog-cat.prompts.jsonl", [{"prompt": t.format(n=n)} for n in held_names for t in pets_gen])
neutral = [
    "Once upon a time, there was a little boat on a big lake.",
    "The children walked to school in the morning.",
    "There was a tall tree next to the river.",
    "Grandpa liked to fix old clocks in his room.",
    "The farmer had a red truck and a green field.",
    "In the town there was a small bakery.",
    "The wind blew the leaves across the road.",
    "A little girl was drawing a picture of a house.",
    "The kids built a fort out of pillows.",
    "It was a cold winter morning and the snow was deep.",
    "The baker put the bread in the oven.",
    "Dad and Ben went fishing by the lake.",
    "The moon was bright over the quiet village.",
    "A boy found a shiny stone on the path.",
    "The teacher read a book to the class.",
    "Mom planted seeds in the garden.",
]
write("neutral.prompts.jsonl", [{"prompt": t} for t in neutral])
