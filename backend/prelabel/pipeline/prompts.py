"""What the multimodal LLM is asked: the prompts and their versions (part of every cache key and of model_version).

Kept apart from the client so that model_version can be computed without importing `openai` (the web service
never calls the MLLM). Prompts after docs/methods.md: "What Do You See?" for stage 1 and class descriptions,
TLAC for stage 2.
"""

from __future__ import annotations

from typing import Any

STAGE1_VERSION = "stage1-v2"
STAGE2_VERSION = "stage2-v2"
STAGE2_IMAGE_VERSION = "stage2-image-v1"
DESCRIBE_VERSION = "describe-v1"
SUGGEST_VERSION = "suggest-v1"

STAGE1_PROMPT = """Look at the image and answer with a JSON object with three fields:
"description": What do you see? Describe any object precisely, including its type or class.
"classification": Classify the image given the class labels. Answer using a single word if possible. \
Here are the class labels: {labels}
"candidates": the names of the organisms, diseases or defects you see, most likely first, as you would name them \
(scientific or common names, in any language).
If nothing in the image fits, say so in the description and give "none" as the classification."""

# A large vocabulary: the labels most likely for this image only, and the freedom to name anything else.
SHORTLIST_NOTE = """
These are only the most likely classes; the right one may be missing. If none of them fits, give your own best \
name for what you see as the classification instead of "none", and in the candidates."""

# No label list at all (a large vocabulary without CLIP to shortlist it): the names are matched afterwards.
STAGE1_OPEN_PROMPT = """Look at the image and answer with a JSON object with three fields:
"description": What do you see? Describe any object precisely, including its type or class.
"classification": the most precise name of the organism, disease or defect you see, in a few words.
"candidates": the names of the organisms, diseases or defects you see, most likely first, as you would name them \
(scientific or common names, in any language).
If you see none, say so in the description and give "none" as the classification."""

STAGE1_PROPERTIES: dict[str, dict[str, Any]] = {
    "description": {"type": "string"},
    "classification": {"type": "string"},
    "candidates": {"type": "array", "items": {"type": "string"}},
}
STAGE1_SCHEMA = {
    "type": "object",
    "properties": STAGE1_PROPERTIES,
    "required": ["description", "classification", "candidates"],
    "additionalProperties": False,
}

# A region project (docs/regions.md): the same three fields and every finding with its box, in the box
# convention the endpoint is set to (PRELABEL_BOX_CONVENTION); the key is the one each model family writes.
STAGE1_REGIONS_VERSION = "stage1-regions-v1"
STAGE1_REGIONS_PROMPT = """Look at the image and find every organism, disease or defect in it. Answer with a JSON \
object with four fields:
"description": What do you see? Describe any object precisely, including its type or class.
"classification": Classify the image as a whole given the class labels. Answer using a single word if possible. \
Here are the class labels: {labels}
"candidates": the names of the organisms, diseases or defects you see, most likely first, as you would name them \
(scientific or common names, in any language).
"findings": one object per individual organism, lesion or defect you see, each with "label": its name (the class \
label where one fits, else your own name for it) and "{key}": {box}, tight around it.
If nothing in the image fits, say so in the description, give "none" as the classification and no findings."""

# What the prompt asks for each box convention: (key, how the box is written).
REGION_BOXES = {
    "pixels": ("bbox_2d", "[x0, y0, x1, y1] in pixels of this image"),
    "qwen2.5-vl": ("bbox_2d", "[x0, y0, x1, y1] in pixels of this image"),
    "yxyx-1000": ("box_2d", "[ymin, xmin, ymax, xmax] normalised to 0-1000"),
    "xyxy-normalized": ("bbox", "[x0, y0, x1, y1] as fractions (0 to 1) of the image's width and height"),
}
REGION_BOXES["auto"] = REGION_BOXES["pixels"]


def stage1_regions_schema(key: str) -> dict[str, Any]:
    """Stage 1's JSON schema with the findings, their boxes under `key`."""
    finding = {"type": "object",
               "properties": {"label": {"type": "string"},
                              key: {"type": "array", "items": {"type": "number"}}},
               "required": ["label", key], "additionalProperties": False}
    return {**STAGE1_SCHEMA,
            "properties": {**STAGE1_PROPERTIES, "findings": {"type": "array", "items": finding}},
            "required": [*STAGE1_PROPERTIES, "findings"]}


STAGE2_PROMPT = """You are given a list of class labels, with other names for each in parentheses, and an answer \
that describes an image. Return the exact class label from the list that matches the answer, or the semantically \
closest one. If no label fits at all, return none. Reply with the label only, with no other words.

Class labels:
{labels}

Answer: {answer}"""

# Stage 2 with the image: the words of stage 1 fit several labels (a group word, alternatives, a sub-kind...),
# which differ in what is visible; the MLLM looks again and picks one from the list, or none. A multiple choice
# over a short list is what a VLM answers best (methods.md, section 3).
STAGE2_IMAGE_PROMPT = """Your first look at this image was: {answer}
Those words fit more than one of the classes below, and the classes differ in what the image shows. Look at the \
image again and choose the one class from this list that it shows (other names for each in parentheses):
{labels}
Reply with the class label exactly as written in the list, with no other words. If the image shows none of \
them, reply none."""

# The five class-description prompts of "What Do You See?" (methods.md, section 2).
DESCRIPTION_PROMPTS = (
    "Describe what a {c} looks like in one or two sentences.",
    "How can you identify a {c} in one or two sentences?",
    "What does a {c} look like? Respond with one or two sentences.",
    "Describe an image from the internet of a {c}. Respond with one or two sentences.",
    "A short caption of an image of a {c}.",
)

# TLAC's first stage (methods.md, section 3): the other names of a class, for an expert to accept or reject.
SUGGEST_PROMPT = """You help keep the vocabulary an inspection team labels photos with (domain: {domain}).
Class: {label}
Names it already has: {names}

List the other names this exact class is known by: common names in each of these languages ({languages}), older \
scientific names or standard terms, abbreviations, and words inspectors use for it. Give only names that mean \
exactly this class: never a broader group, a related class, or a description. Answer with a JSON object \
{{"names": [{{"name": "...", "kind": "common", "language": "en"}}]}}, where kind is common, scientific or alias \
and language is the two-letter code of a common name. If you know no other name, give an empty list."""

SUGGEST_SCHEMA = {
    "type": "object",
    "properties": {
        "names": {"type": "array", "items": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "kind": {"type": "string"}, "language": {"type": "string"}},
            "required": ["name", "kind", "language"],
            "additionalProperties": False,
        }},
    },
    "required": ["names"],
    "additionalProperties": False,
}
