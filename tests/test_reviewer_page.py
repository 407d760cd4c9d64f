"""What a reviewer sees, in a real browser: Label Studio 1.23.2's labeling page, opened in headless Chromium
(Debian's package, scripts/ensure-chromium.sh) and logged in as the test user, for tasks pre-labelled by the
real pipeline (the stub MLLM over HTTP, the tiny CLIP) and written with prediction_json.

Three projects: the shipped config for the example vocabulary (a Taxonomy with search, 30 labels), a
Japanese-valued config with aliases (checkboxes, 5 labels), and a 300-label vocabulary. For each page: the
suggested choice is selected, the evidence (the MLLM's words, how they matched) is visible without scrolling,
and for a none or failed task its state and reason are. Screenshots are kept in tests/artifacts/reviewer/;
PRELABEL_UPDATE_DOCS=1 also writes docs/reviewer.png for docs/reviewers.md.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import EXAMPLE_VOCAB, ROOT, TINY_CLIP_CONFIG, english_left, is_stage2_image, wait_until
from labelstudio import PASSWORD, USERNAME, LabelStudio
from prelabel.pipeline.calibration import PRIOR_NOTE
from prelabel.pipeline.factory import build_pipeline
from prelabel.pipeline.identity import ModelVersion
from prelabel.pipeline.result import FAILED, LABEL, NONE, ImageInput, ImagePrediction
from prelabel.settings import Settings
from prelabel.studio.columns import list_columns
from prelabel.studio.labelconfig import Control, make_label_config, read_label_config
from prelabel.studio.predictions import import_task, local_files_url, studio_prediction
from prelabel.vocabulary.vocab import Vocabulary, load_vocabulary, parse_vocabulary
from stub_llm import StubLLM, request_images

ARTIFACTS = ROOT / "tests" / "artifacts" / "reviewer"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1440, "height": 900}  # a laptop screen
BMSB = "Halyomorpha halys"
EVIDENCE = "[data-testid='htx-textbox-content']"  # one block per string of the textarea result
ANSWERS = {  # stage 1, by picture
    "bug": json.dumps({"description": "A shield-shaped mottled brown bug with pale bands on its antennae, on a "
                                      "leaf.", "classification": "BMSB",
                       "candidates": ["BMSB", "brown marmorated stink bug", "stink bug"]}),
    "none": json.dumps({"description": "A plain green surface; no insect or damage is visible.",
                         "classification": "none", "candidates": []}),
    "bug-ja": json.dumps({"description": "クサギカメムシの成虫が葉の上にいる。", "classification": "クサギカメムシ",
                        "candidates": ["クサギカメムシ", "カメムシ"]}),
    "fly": json.dumps({"description": "A yellow fly with banded wings on a leaf.",
                       "classification": "Zeugodacus kraussi", "candidates": ["Zeugodacus kraussi"]}),
    # One answer, two labels side by side (issue 19): several checked choices in a multi-choice project.
    "two": json.dumps({"description": "Two shield-shaped bugs side by side on one leaf.",
                       "classification": "a brown marmorated stink bug and a southern green stink bug",
                       "candidates": []}),
    # A group word: stage 2 asks again with the image, and the stub's second look picks Nezara viridula.
    "group": json.dumps({"description": "A green shield-shaped bug on a leaf.", "classification": "stink bug",
                         "candidates": ["stink bug"]}),
}
SECOND_LOOK = "Nezara viridula"  # the stub's answer to stage 2 with the image


@dataclass
class Project:
    id: int
    control: Control
    tasks: dict[str, int]  # image name -> task id
    predictions: dict[str, ImagePrediction]
    version: str


def picture(path: Path, width: int, insect: tuple[int, int, int] | None) -> Path:
    """A leaf, with a shield-shaped bug on it when `insect` is its colour. The stub MLLM tells pictures apart
    by width (see `stub`)."""
    from PIL import Image, ImageDraw

    height = 480
    image = Image.new("RGB", (width, height), (58, 120, 52))
    draw = ImageDraw.Draw(image)
    draw.ellipse([-80, 40, width + 80, height - 40], fill=(84, 160, 70))
    draw.line([0, height // 2, width, height // 2], fill=(150, 200, 120), width=6)
    for x in range(60, width, 110):
        draw.line([x, height // 2, x + 70, 90], fill=(130, 190, 110), width=3)
        draw.line([x, height // 2, x + 70, height - 90], fill=(130, 190, 110), width=3)
    if insect:
        cx, cy = width // 2, height // 2
        dark = tuple(c // 2 for c in insect)
        for side in (-1, 1):
            for dy in (-40, 0, 40):
                draw.line([cx, cy + dy, cx + side * 120, cy + dy + 50], fill=dark, width=7)
            draw.line([cx + side * 15, cy - 110, cx + side * 70, cy - 190], fill=dark, width=5)
            draw.line([cx + side * 55, cy - 165, cx + side * 62, cy - 176], fill=(235, 230, 210), width=6)
        draw.polygon([(cx - 95, cy - 60), (cx + 95, cy - 60), (cx + 70, cy + 60), (cx, cy + 120),
                      (cx - 70, cy + 60)], fill=insect, outline=dark)
        draw.ellipse([cx - 35, cy - 115, cx + 35, cy - 55], fill=dark)
        for spot in range(-60, 70, 30):
            draw.ellipse([cx + spot - 6, cy - 20, cx + spot + 6, cy - 8], fill=dark)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=90)
    return path


def predict(folder: Path, vocabulary: Vocabulary, stub: StubLLM, tiny_clip, names: dict[str, tuple]) -> dict:
    """The real pipeline on real JPEGs (and an unreadable file where no picture is given)."""
    settings = Settings.from_env({}, data_dir=str(folder.parent / f"{folder.name}-var"), llm_base_url=stub.url,
                                 clip_model=str(TINY_CLIP_CONFIG), clip_pretrained="", device="cpu", llm_retries=0)
    pipeline = build_pipeline(settings, vocabulary, clip=tiny_clip)
    paths = []
    for name, drawn in names.items():
        if drawn:
            paths.append(picture(folder / f"{name}.jpg", *drawn))
        else:
            paths.append(folder / f"{name}.jpg")
            paths[-1].write_bytes(b"not a jpeg")
    found = pipeline.predict([ImageInput(str(path), path.read_bytes, ref=path) for path in paths])
    pipeline.close()
    return {"version": str(pipeline.model_version), "predictions": {p.ref.stem: p for p in found}}


def make_project(label_studio: LabelStudio, title: str, config: str, vocabulary: Vocabulary, stub: StubLLM,
                 tiny_clip, names: dict[str, tuple]) -> Project:
    """A project with `config`, images served as local files, and tasks imported with their predictions."""
    client = label_studio.client()
    folder = label_studio.files_root / title.lower().replace(" ", "-")
    folder.mkdir(parents=True, exist_ok=True)
    ran = predict(folder, vocabulary, stub, tiny_clip, names)
    control = read_label_config(config, vocabulary).control
    project = client.projects.create(title=title, label_config=config, model_version=ran["version"])
    client.import_storage.local.create(project=project.id, path=str(folder))
    version = ModelVersion.parse(ran["version"])
    tasks = [import_task(p, local_files_url(p.ref, label_studio.files_root), version, control)
             for p in ran["predictions"].values()]
    for task, prediction in zip(tasks, ran["predictions"].values(), strict=True):  # what the worker writes
        task["data"].update(list_columns(studio_prediction(prediction, version, control), control, prediction))
    client.projects.import_tasks(id=project.id, request=tasks)
    ids = {Path(task.data["image"]).stem: task.id for task in client.tasks.list(project=project.id)}
    return Project(project.id, control, ids, ran["predictions"], ran["version"])


BUG, FLY = (120, 84, 52), (200, 160, 40)  # a brown stink bug, a yellow fruit fly
BY_WIDTH = {640: "bug", 641: "none", 642: "bug-ja", 643: "fly", 644: "two", 645: "group"}


@pytest.fixture(scope="module")
def stub() -> Iterator[StubLLM]:
    """Stage 1 answers by the picture's width; stage 2 (text only) answers none; stage 2 with the image answers
    SECOND_LOOK."""
    from PIL import Image

    def handler(body: dict) -> str:
        images = request_images(body)
        if not images:
            return "none"
        if is_stage2_image(body):
            return SECOND_LOOK
        return ANSWERS[BY_WIDTH[Image.open(io.BytesIO(images[0])).width]]

    with StubLLM(handler) as server:
        yield server


def japanese_fonts(folder: Path) -> dict[str, str]:
    """A fontconfig file for our Chromium alone: the machine's fonts plus the IPAexGothic that
    matplotlib-fontja ships (a dependency of the report), so Japanese choices are text in the screenshots, not
    boxes. Nothing is installed on the machine: the report's test relies on it having no Japanese font."""
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        return {}
    fonts = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    config = folder / "fonts.conf"
    config.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
                      '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
                      f"  <dir>{fonts}</dir>\n  <cachedir>{folder / 'fontconfig-cache'}</cachedir>\n"
                      "</fontconfig>\n", encoding="utf-8")
    return {"FONTCONFIG_FILE": str(config)}


@pytest.fixture(scope="module")
def page(label_studio: LabelStudio, tmp_path_factory):
    """One logged-in browser page for the module."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make services` installs it (scripts/ensure-chromium.sh)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the labeling page: {ARTIFACTS}")
    env = {**os.environ, **japanese_fonts(tmp_path_factory.mktemp("chromium"))}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, env=env, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"])
        context = browser.new_context(viewport=VIEWPORT)
        opened = context.new_page()
        opened.set_default_timeout(60_000)
        opened.goto(f"{label_studio.url}/user/login")
        opened.fill("#email", USERNAME)
        opened.fill("#password", PASSWORD)
        opened.click("#login-form [type=submit]")
        opened.wait_for_url(lambda url: "/user/login" not in url)
        yield opened
        context.close()
        browser.close()


def open_task(page, label_studio: LabelStudio, project: Project, name: str, ready: str) -> dict:
    """Open a task's labeling page (the Data Manager's quick view), wait for the evidence and `ready` (the
    selected choice), screenshot it, and return what is on screen."""
    page.goto(f"{label_studio.url}/projects/{project.id}/data?task={project.tasks[name]}")
    page.wait_for_selector(EVIDENCE)
    page.wait_for_selector(ready)
    page.wait_for_timeout(500)  # the image's layout settles after the controls appear
    page.screenshot(path=str(ARTIFACTS / f"{project.id}-{name}.png"))
    return page.evaluate("""() => {
        const box = (e) => { if (!e) return null; const r = e.getBoundingClientRect();
            return {top: r.top, bottom: r.bottom, visible: r.height > 0 && r.top >= 0 && r.bottom <= innerHeight,
                    head_visible: r.height > 0 && r.top >= 0 && r.top + 24 <= innerHeight}; };
        const evidence = document.querySelector("[data-testid='htx-textbox-content']");
        const taxonomy = document.querySelector('.htx-taxonomy');
        const checked = [...document.querySelectorAll('.lsf-choices input:checked')];
        const tag = taxonomy && [...taxonomy.querySelectorAll('*')].find(
            (e) => e.children.length === 0 && e.innerText && e.innerText.trim());
        // The labeling config's panel, as the reviewer reads it: the nearest element holding the evidence and the
        // choices (its headers, choices, runner-ups, evidence), and the evidence box's placeholder.
        let panel = evidence;
        while (panel && !panel.querySelector('.lsf-choices, .htx-taxonomy')) panel = panel.parentElement;
        const placeholders = [...document.querySelectorAll('textarea[placeholder]')].map((e) => e.placeholder);
        return {evidence: evidence && evidence.innerText, evidence_box: box(evidence),
                panel: [panel ? panel.innerText : "", ...placeholders].join("\\n"),
                taxonomy: taxonomy && taxonomy.innerText.trim(), taxonomy_box: box(taxonomy), tag_box: box(tag),
                checked: checked.map((e) => e.name), checked_box: box(checked[0]),
                textarea_inputs: document.querySelectorAll("[data-testid='textarea-input']").length};
    }""")


# ---- the shipped config: a Taxonomy with search, 30 labels --------------------------------------------------------

@pytest.fixture(scope="module")
def shipped(label_studio, stub, tiny_clip) -> Project:
    vocabulary = load_vocabulary(EXAMPLE_VOCAB)
    config = (ROOT / "plugin" / "plant-quarantine-pests.labeling-config.xml").read_text(encoding="utf-8")
    return make_project(label_studio, "Reviewer shipped", config, vocabulary, stub, tiny_clip,
                        {"red": (640, BUG), "green": (641, None), "broken": ()})


def test_a_pre_labelled_task_shows_its_label_and_why(page, label_studio, shipped):
    prediction = shipped.predictions["red"]
    assert (prediction.state, prediction.label) == (LABEL, BMSB)
    seen = open_task(page, label_studio, shipped, "red", ".htx-taxonomy :text('Halyomorpha halys')")
    assert seen["taxonomy"] == BMSB and seen["tag_box"]["visible"]  # the selected label, on screen
    lines = seen["evidence"].splitlines()
    assert lines[0] == f"Suggested: {BMSB}, {round(prediction.score * 100)}% ({PRIOR_NOTE['en']})"
    assert f'- classification "BMSB" -> {BMSB}: alias 97%' in lines  # the MLLM's words and the match method
    assert f'- candidate "brown marmorated stink bug" -> {BMSB}: exact 100%' in lines
    assert any(line.startswith('- candidate "stink bug" -> no label: ambiguous, fits') for line in lines)
    assert any(line.startswith('- description "A shield-shaped mottled brown bug') for line in lines)
    assert lines[-1].startswith("How Prelabel looked: photo read; the MLLM described the photo")
    assert seen["evidence_box"]["head_visible"]  # the first line (the decision) without scrolling
    assert seen["textarea_inputs"] == 0  # read-only: no input box for the reviewer to type into
    if os.environ.get("PRELABEL_UPDATE_DOCS"):  # the screenshot in docs/reviewers.md
        shutil.copy(ARTIFACTS / f"{shipped.id}-red.png", ROOT / "docs" / "reviewer.png")


def test_a_none_task_shows_the_none_choice_and_its_reason(page, label_studio, shipped):
    assert shipped.predictions["green"].state == NONE
    seen = open_task(page, label_studio, shipped, "green", ".htx-taxonomy :text('None of these')")
    assert seen["taxonomy"] == "None of these" and seen["tag_box"]["visible"]
    assert seen["evidence"].startswith(
        "Suggested: none of these. The MLLM saw nothing from the label list (it answered 'none')\n")
    assert '- classification "none" -> no label: no match' in seen["evidence"]
    assert "Closest labels (CLIP alone): " in seen["evidence"] and seen["evidence_box"]["head_visible"]


def test_a_failed_task_shows_what_failed(page, label_studio, shipped):
    assert shipped.predictions["broken"].state == FAILED
    seen = open_task(page, label_studio, shipped, "broken", ".htx-taxonomy")
    assert seen["evidence"].startswith("Not pre-labelled: the image could not be used (unreadable: ")
    assert "What to do: choose the label yourself." in seen["evidence"]
    assert seen["evidence"].splitlines()[-1] == "How Prelabel looked: photo not usable"
    assert shipped.version not in seen["evidence"]  # no version hash for the reviewer
    assert seen["taxonomy"] == "Search 30 labels"  # nothing decided: the input shows its placeholder


class Actions:
    """A reviewer's actions on the page, counted: a click, a key, a word typed is one each."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def click(self, selector: str) -> None:
        self.page.click(selector)
        self.count += 1

    def type(self, selector: str, text: str) -> None:
        self.page.fill(selector, text)
        self.count += 1


def test_a_correction_to_a_runner_up_takes_two_actions(page, label_studio, shipped):
    """Issue 21: with 30 labels (a Taxonomy) a correction took five actions: remove the tag, open the dropdown,
    type, tick, Submit. The runner-ups control under it makes it two when the right label is a runner-up (or,
    for a none, one of the closest labels): tick it, Submit. Both done here, in the browser, and read back as the
    learning and the report read them."""
    from prelabel.learning.feedback import annotated_label
    from prelabel.report.parse import classification

    client = label_studio.client()

    def annotation(name: str):
        [found] = wait_until(lambda: list(client.annotations.list(id=shipped.tasks[name])), 30, what="annotation")
        return found

    before = Actions(page)  # the label task, corrected through the taxonomy's search
    open_task(page, label_studio, shipped, "red", f".htx-taxonomy :text('{BMSB}')")
    before.click(".htx-taxonomy .ant-select-selection-item-remove")
    before.click(".htx-taxonomy")
    before.type("[data-testid=taxonomy-search]", "nezara")
    before.click(".htx-taxonomy-dropdown .ant-select-tree-title:text-is('Nezara viridula')")
    before.click("button:has-text('Submit')")
    assert annotated_label(annotation("red"), shipped.control) == "Nezara viridula"

    prediction = shipped.predictions["green"]  # the none task: its closest labels, one click away
    closest = [label for label, score in prediction.ranking if score >= 0.005]
    seen = open_task(page, label_studio, shipped, "green", f".lsf-choices label:has-text('{closest[0]} ')")
    options = page.eval_on_selector_all(".lsf-choices label", "l => l.map(e => e.innerText.trim())")
    shown = [re.match(r"(.+) (?:<1|\d+)%", option) for option in options]  # the label, its score (and hotkey)
    assert [found and found.group(1) for found in shown] == closest[:4]  # as the evidence lists them
    assert seen["taxonomy"] == "None of these"
    after = Actions(page)
    after.click(f".lsf-choices label:has-text('{closest[1]} ')")
    page.wait_for_selector(".lsf-choices input:checked")
    page.screenshot(path=str(ARTIFACTS / f"{shipped.id}-runner-up.png"))
    after.click("button:has-text('Submit')")
    corrected = annotation("green")
    assert annotated_label(corrected, shipped.control) == closest[1]  # the runner-up overrides the taxonomy
    assert classification(corrected.result, "None of these", "label") == (True, closest[1])
    print(f"\nactions per correction: {before.count} through the taxonomy, {after.count} to a runner-up")


# ---- a Japanese-valued config with aliases: checkboxes ----------------------------------------------------------

JA_LABELS = [entry.label for entry in load_vocabulary(EXAMPLE_VOCAB).labels[:5]] + ["None of these"]


@pytest.fixture(scope="module")
def japanese(label_studio, stub, tiny_clip) -> Project:
    full = load_vocabulary(EXAMPLE_VOCAB)
    vocabulary = Vocabulary(full.domain, full.labels[:5])
    config = make_label_config(vocabulary, language="ja")
    assert 'value="クサギカメムシ" alias="Halyomorpha halys"' in config and "<Choices" in config
    return make_project(label_studio, "Reviewer ja", config, vocabulary, stub, tiny_clip,
                        {"blue": (642, BUG), "green": (641, None)})


def test_a_japanese_config_selects_the_choice_by_its_alias(page, label_studio, japanese):
    prediction = japanese.predictions["blue"]
    assert (prediction.state, prediction.label) == (LABEL, BMSB)
    seen = open_task(page, label_studio, japanese, "blue", ".lsf-choices input:checked")
    assert seen["checked"] == ["クサギカメムシ"] and seen["checked_box"]["visible"]
    lines = seen["evidence"].splitlines()
    assert lines[0].startswith(f"提案: クサギカメムシ ({BMSB}), ")  # headings in the language reviewers read
    assert lines[0].endswith(f"% ({PRIOR_NOTE['ja']})")  # what the prior's score is, in their language too
    assert lines[1] == "理由: MLLMが挙げた（'クサギカメムシ' との完全一致）"  # the sentences too (issue 21)
    assert "MLLMの言葉と語彙との照合:" in lines
    assert '- 分類 "クサギカメムシ" -> クサギカメムシ: 完全一致 100%' in lines  # named as the choice shows it
    assert any(line.startswith('- 説明 "クサギカメムシの成虫が葉の上にいる。" -> ') for line in lines)
    assert lines[-1].startswith("処理の経過: 写真を読んだ、MLLMが写真を説明した")
    assert seen["evidence_box"]["head_visible"]
    # The whole panel Prelabel puts on the page (headers, choices, evidence) has no English but the MLLM's
    # quoted words and the labels' own names (issue 21), and names labels as its choices do.
    assert english_left(seen["panel"], JA_LABELS) == [], seen["panel"]
    assert "Prelabel の提案の理由" in seen["panel"] and all(BMSB not in line for line in lines[1:])


def test_a_japanese_none_is_the_japanese_none_choice(page, label_studio, japanese):
    seen = open_task(page, label_studio, japanese, "green", ".lsf-choices input:checked")
    assert seen["checked"] == ["該当なし"]
    lines = seen["evidence"].splitlines()  # the reason and the match in Japanese too (issue 21)
    assert lines[0] == "提案: 該当なし。MLLMはラベル一覧のどれも写っていないと答えた（答え: 'none'）"
    assert '- 分類 "none" -> ラベルなし: 一致なし' in lines
    assert english_left(seen["panel"], JA_LABELS) == [], seen["panel"]


# ---- issue 19: several labels in one answer, and stage 2 with the image ---------------------------------------

def five_labels() -> Vocabulary:
    full = load_vocabulary(EXAMPLE_VOCAB)
    return Vocabulary(full.domain, full.labels[:5])


@pytest.fixture(scope="module")
def multiple(label_studio, stub, tiny_clip) -> Project:
    vocabulary = five_labels()
    config = make_label_config(vocabulary).replace('choice="single"', 'choice="multiple"')
    assert 'choice="multiple"' in config
    return make_project(label_studio, "Reviewer multi", config, vocabulary, stub, tiny_clip,
                        {"two": (644, BUG), "group": (645, FLY)})


@pytest.fixture(scope="module")
def single(label_studio, stub, tiny_clip) -> Project:
    vocabulary = five_labels()
    return make_project(label_studio, "Reviewer single", make_label_config(vocabulary), vocabulary, stub, tiny_clip,
                        {"two": (644, BUG)})


def test_a_multi_choice_project_gets_two_checked_choices_for_a_two_label_answer(page, label_studio, multiple):
    prediction = multiple.predictions["two"]
    assert prediction.state == NONE and [label for label, _ in prediction.labels] == [BMSB, "Nezara viridula"]
    assert multiple.control.multiple
    seen = open_task(page, label_studio, multiple, "two", ".lsf-choices input:checked")
    assert sorted(seen["checked"]) == sorted([BMSB, "Nezara viridula"]) and seen["checked_box"]["visible"]
    lines = seen["evidence"].splitlines()
    scores = dict(prediction.labels)
    assert lines[:2] == [f"Suggested: {BMSB}, {round(scores[BMSB] * 100)}% ({PRIOR_NOTE['en']})",
                         f"Suggested: Nezara viridula, {round(scores['Nezara viridula'] * 100)}% ({PRIOR_NOTE['en']})"]
    assert lines[2].startswith(f"Why {BMSB}: named by the MLLM beside 1 other label(s) in \"a brown marmorated")
    assert lines[3].startswith("Why Nezara viridula: named by the MLLM beside 1 other label(s) in ")
    assert seen["evidence_box"]["head_visible"]


def test_a_single_choice_project_gets_none_with_both_as_candidates(page, label_studio, single):
    seen = open_task(page, label_studio, single, "two", ".lsf-choices input:checked")
    assert seen["checked"] == ["None of these"]
    lines = seen["evidence"].splitlines()
    assert lines[0] == (f"Suggested: none of these. No single label: the MLLM named 2 labels side by side ({BMSB}, "
                        "Nezara viridula)")
    [closest] = [line for line in lines if line.startswith("Closest labels: ")]
    first_two = [item.rsplit(" ", 1)[0] for item in closest.removeprefix("Closest labels: ").split(", ")[:2]]
    assert sorted(first_two) == sorted([BMSB, "Nezara viridula"])  # both, first, for the reviewer to choose


def test_stage_2_with_the_image_shows_what_it_chose_from(page, label_studio, multiple):
    prediction = multiple.predictions["group"]
    assert (prediction.state, prediction.label) == ("label", SECOND_LOOK)
    seen = open_task(page, label_studio, multiple, "group", ".lsf-choices input:checked")
    assert seen["checked"] == [SECOND_LOOK]
    lines = seen["evidence"].splitlines()
    assert lines[1] == "Why: chosen by the MLLM from 2 candidates after seeing the image"
    assert (f'- stage 2 with the image "{SECOND_LOOK}" -> {SECOND_LOOK}: chosen by the MLLM from 2 candidates after '
            "seeing the image") in lines
    assert not any("exact" in line for line in lines if line.startswith("- stage 2"))
    assert ("How Prelabel looked: photo read; the MLLM described the photo; asked the MLLM again with the label "
            "list and the photo") in seen["evidence"]


# ---- 300 labels: the suggestion is in view at once --------------------------------------------------------------

GENERA = ["Acanthoscelides", "Anastrepha", "Anoplophora", "Bactrocera", "Callosobruchus", "Ceratitis",
          "Cryptolestes", "Dacus", "Diabrotica", "Epitrix", "Helicoverpa", "Leptinotarsa", "Liriomyza",
          "Popillia", "Rhagoletis", "Spodoptera", "Tetranychus", "Thaumatotibia", "Trogoderma", "Zeugodacus"]
EPITHETS = ["alba", "borealis", "cucurbitae", "dorsalis", "elegans", "frugiperda", "glabra", "hirsuta",
            "indica", "japonica", "kraussi", "lineata", "montana", "nigra", "orientalis"]


@pytest.fixture(scope="module")
def many(label_studio, stub, tiny_clip) -> Project:
    labels = [f"{genus} {epithet}" for genus in GENERA for epithet in EPITHETS]
    assert len(labels) == 300 and labels[295] == "Zeugodacus kraussi"
    vocabulary = parse_vocabulary("domain: many\nlabels:\n" + "".join(f"  - label: {label}\n" for label in labels))
    return make_project(label_studio, "Reviewer 300", make_label_config(vocabulary), vocabulary, stub, tiny_clip,
                        {"yellow": (643, FLY)})


def test_with_300_labels_the_suggestion_is_in_view(page, label_studio, many):
    assert many.predictions["yellow"].label == "Zeugodacus kraussi"
    seen = open_task(page, label_studio, many, "yellow", ".htx-taxonomy :text('Zeugodacus kraussi')")
    assert seen["taxonomy"] == "Zeugodacus kraussi" and seen["tag_box"]["visible"]  # no scrolling
    assert seen["evidence"].splitlines()[0].startswith("Suggested: Zeugodacus kraussi, ")
    assert seen["evidence_box"]["head_visible"]
    page.click(".htx-taxonomy")  # its dropdown searches the 300 labels
    page.wait_for_selector("[data-testid=taxonomy-search]")
    page.fill("[data-testid=taxonomy-search]", "zeugodacus kr")
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"{many.id}-search.png"))
    found = page.eval_on_selector_all(".htx-taxonomy-dropdown .ant-select-tree-title", "l => l.map(e => e.innerText)")
    assert found == ["Zeugodacus kraussi"]


def submit(page, label_studio: LabelStudio, task_id: int) -> dict:
    """Press Submit and return the annotation as Label Studio's API gives it back."""
    page.click("button:has-text('Submit')")
    client = label_studio.client()
    [annotation] = wait_until(lambda: list(client.annotations.list(id=task_id)), 30, what="the submitted annotation")
    return annotation


def test_a_reviewer_s_correction_and_none_are_read_back_from_the_annotation(page, label_studio, japanese):
    """The submitted annotation carries the evidence text too (docs/label-studio-testing.md): only the choice is
    read, and the Japanese none choice is the none."""
    from prelabel.learning.feedback import annotated_label

    open_task(page, label_studio, japanese, "blue", ".lsf-choices input:checked")
    page.click(".lsf-choices label:has-text('ミナミアオカメムシ')")
    page.wait_for_selector(".lsf-choices input[name='ミナミアオカメムシ']:checked")
    corrected = submit(page, label_studio, japanese.tasks["blue"])
    types = sorted(item["type"] for item in corrected.result)
    assert types == ["choices", "textarea"]  # the evidence came along, read-only as predicted
    assert next(item for item in corrected.result if item["type"] == "textarea")["readonly"] is True
    assert annotated_label(corrected, japanese.control) == "Nezara viridula"
    open_task(page, label_studio, japanese, "green", ".lsf-choices input:checked")
    accepted = submit(page, label_studio, japanese.tasks["green"])
    label = annotated_label(accepted, japanese.control)
    assert label == "該当なし" and japanese.control.is_none(label)
