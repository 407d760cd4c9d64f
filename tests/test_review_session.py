"""A review session in Label Studio 1.23.2, as a reviewer goes through it in headless Chromium, against a real
deployment: `prelabel serve` under gunicorn, a `prelabel worker`, the real Redis; the MLLM is the stub server,
CLIP the tiny model. The project is made by `prelabel setup` and pre-labelled by `prelabel run`.

- the list: the tab `setup` makes shows each task's suggestion and score as columns, failed and least sure first;
- failures heal in front of the reviewer: a failed task opened from the list, or served by the label stream, is
  tried again and shown at once; one that fails again says what to do, and after three failures in a row no
  longer promises a retry;
- the sample: its tab's stream serves the sampled tasks and no others.

The browser and its login are test_reviewer_page's (`page`); screenshots go to tests/artifacts/reviewer/.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
import requests
from redis import Redis

from helpers import (
    DEFECTS_VOCAB,
    EXAMPLE_VOCAB,
    ROOT,
    TEST_REDIS_URL,
    TINY_CLIP_CONFIG,
    answer_by_colour,
    image_project,
    invoke,
    solid_image,
    start_service,
    start_worker,
    stop_process,
    wait_until,
)
from labelstudio import LabelStudio
from prelabel.learning.store import LearnedStore
from prelabel.report.marking import replace_views
from prelabel.report.sample import Design
from prelabel.settings import Settings
from prelabel.studio.client import LabelStudio as Studio
from prelabel.studio.columns import RUNNER_UPS
from prelabel.studio.labelconfig import make_label_config
from prelabel.studio.setup import REVIEW_TAB
from stub_llm import StubLLM
from test_reviewer_page import ARTIFACTS, five_labels, page  # noqa: F401  (page: the logged-in browser)

NEXT_TASK = "/api/dm/actions?id=next_task"
# By colour: a label, two labels side by side (none in a single-choice project), nothing seen.
ANSWERS = {"red": "BMSB", "green": "rice weevil", "blue": "none"}
PHOTOS = {"red": (220, 20, 20), "green": (20, 220, 20), "blue": (20, 20, 220)}
FAILING = ("broken", "cracked", "stuck")  # unreadable at first: broken heals from the list, cracked in the stream


@pytest.fixture(scope="module")
def env(label_studio, tmp_path_factory):
    redis = Redis.from_url(TEST_REDIS_URL)
    redis.flushdb()
    with StubLLM(answer_by_colour(ANSWERS)) as stub:
        yield {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
               "REDIS_URL": TEST_REDIS_URL, "PRELABEL_LLM_BASE_URL": stub.url, "PRELABEL_VOCAB": str(EXAMPLE_VOCAB),
               "PRELABEL_CLIP_MODEL": str(TINY_CLIP_CONFIG), "PRELABEL_CLIP_PRETRAINED": "",
               "PRELABEL_DEVICE": "cpu", "PRELABEL_DATA_DIR": str(tmp_path_factory.mktemp("review-var")),
               "PRELABEL_SYNC_BUDGET": "60", "PRELABEL_LLM_RETRIES": "0"}
    redis.flushdb()


@pytest.fixture(scope="module")
def deployed(env, tmp_path_factory):
    """The service and one worker: (backend URL, worker log)."""
    logs = tmp_path_factory.mktemp("review-logs")
    service, url = start_service(env, logs / "serve.log")
    worker = start_worker(env, "review-worker", logs / "worker.log")
    yield url, logs / "worker.log"
    stop_process(worker)
    stop_process(service)


@pytest.fixture(scope="module")
def reviewed(label_studio, env, deployed):
    """A project made by `prelabel setup` over a folder of photos (three unreadable), pre-labelled by `prelabel
    run --all`: (project id, {photo name: task id})."""
    folder = label_studio.files_root / "review-list"
    for name, colour in PHOTOS.items():
        solid_image(folder / f"{name}.jpg", colour)
    for name in FAILING:  # broken and cracked are mended later; stuck stays unreadable
        (folder / f"{name}.jpg").write_bytes(b"not a jpeg")
    made = invoke("setup", "--title", "Review list", "--images", str(folder), "--backend-url", deployed[0], env=env)
    assert made.exit_code == 0, made.stderr
    project_id = int(made.stdout.strip())
    assert f"Data Manager tab '{REVIEW_TAB}'" in made.stderr
    ran = invoke("run", "--project", str(project_id), "--all", env=env)
    assert ran.exit_code == 0, ran.stderr
    client = label_studio.client()
    ids = {task.data["image"].rsplit("/", 1)[-1].removesuffix(".jpg"): task.id
           for task in client.tasks.list(project=project_id)}
    return project_id, ids


def list_columns_written(label_studio: LabelStudio, project_id: int) -> dict[int, tuple]:
    tasks = label_studio.client().tasks.list(project=project_id, include="id,data")
    found = {task.id: (task.data.get("prelabel_suggested"), task.data.get("prelabel_score")) for task in tasks}
    return found if all(value[0] is not None for value in found.values()) else {}


def test_the_review_tab_lists_suggestion_and_score_failed_and_least_sure_first(page, label_studio, reviewed):  # noqa: F811
    project_id, ids = reviewed
    written = wait_until(lambda: list_columns_written(label_studio, project_id), 60, what="the list columns")
    predictions = {p.task: p for p in label_studio.client().predictions.list(project=project_id)}
    assert written[ids["red"]] == ("Halyomorpha halys", round(predictions[ids["red"]].score, 2))
    assert written[ids["green"]] == ("Sitophilus oryzae", round(predictions[ids["green"]].score, 2))
    assert written[ids["blue"]] == ("None of these", 0.0)
    assert {written[ids[name]] for name in FAILING} == {("not pre-labelled", 0.0)}
    data = {task.id: task.data for task in label_studio.client().tasks.list(project=project_id, include="id,data")}
    closest = data[ids["blue"]][RUNNER_UPS]  # the options of the runner-ups control: a none's closest labels
    assert closest and all(option["value"].startswith(option["alias"] + " ") for option in closest)
    assert RUNNER_UPS not in data[ids["broken"]]  # a failure has no runner-ups: the key is not written at all
    [tab] = [v for v in label_studio.client().views.list(project=project_id) if v.data["title"] == REVIEW_TAB]

    page.goto(f"{label_studio.url}/projects/{project_id}/data?tab={tab.id}")
    page.wait_for_selector(".lsf-table-row >> nth=5")
    page.screenshot(path=str(ARTIFACTS / "review-list.png"))
    if os.environ.get("PRELABEL_UPDATE_DOCS"):  # the screenshot in docs/reviewers.md
        shutil.copy(ARTIFACTS / "review-list.png", ROOT / "docs" / "reviewer-list.png")
    headers = page.eval_on_selector_all(".lsf-th-content", "l => l.map(e => e.innerText.trim())")
    assert "prelabel_suggested" in headers and "prelabel_score" in headers
    assert "Prediction results" not in headers and RUNNER_UPS not in headers  # JSON: hidden in this tab
    rows = page.eval_on_selector_all(".lsf-table-row", "l => l.map(e => e.innerText.split('\\n').map(s => s.trim()))")
    shown = [(int(row[0]), next(cell for cell in row if cell in {s for s, _ in written.values()})) for row in rows]
    assert {task_id for task_id, _ in shown[:4]} == {ids[name] for name in (*FAILING, "blue")}  # 0: failed, none
    scores = [written[task_id][1] for task_id, _ in shown]
    assert scores == sorted(scores)  # then the least sure
    assert dict(shown) == {task_id: suggested for task_id, (suggested, _) in written.items()}


EVIDENCE = "[data-testid='htx-textbox-content']"


def shown_evidence(response) -> tuple[int, str]:
    """The task the stream served and the first line of its prediction's evidence."""
    task = response.json()
    texts = [item["value"]["text"][0] for prediction in task.get("predictions") or []
             for item in prediction.get("result") or [] if item.get("type") == "textarea"]
    return task["id"], texts[0].splitlines()[0] if texts else ""


def failed_tries(env: dict, task_id: int) -> int:
    """How many tries at the task failed in a row, as the workers' learned store records them."""
    store = LearnedStore(Settings.from_env(env).learned_url)
    [(project_id,)] = store.query("SELECT DISTINCT project_id FROM prediction_attempts WHERE task_id = ?", (task_id,))
    return store.failures_in_a_row(project_id, task_id)


def test_a_failed_task_heals_when_opened_from_the_list(page, label_studio, env, reviewed):  # noqa: F811
    """Workers write no failure, so the failed tasks have no prediction at all; Label Studio asks the backend for
    such a task when it is opened from the list (a click on its row), and the backend tries again while the page
    waits: `broken`, its photo mended, shows its label; `stuck` why it failed and what to do; no reload. The list
    page itself, which asks for every task of the page without a prediction, is not kept waiting on them."""
    project_id, ids = reviewed
    solid_image(label_studio.files_root / "review-list" / "broken.jpg", PHOTOS["red"])
    assert [p for p in label_studio.client().predictions.list(project=project_id)
            if p.task in {ids[name] for name in FAILING}] == []
    [tab] = [v for v in label_studio.client().views.list(project=project_id) if v.data["title"] == REVIEW_TAB]
    page.goto(f"{label_studio.url}/projects/{project_id}/data?tab={tab.id}")
    page.wait_for_selector(".lsf-table-row >> nth=5")
    seen = {}
    for name in ("broken", "stuck"):
        rows = page.eval_on_selector_all(".lsf-table-row", "l => l.map(e => e.innerText.split('\\n')[0].trim())")
        opened = re.compile(rf"/api/tasks/{ids[name]}/?(\?|$)")
        with page.expect_response(lambda r, pattern=opened: r.request.method == "GET"
                                  and pattern.search(r.url) is not None) as answer:
            page.click(f".lsf-table-row >> nth={rows.index(str(ids[name]))}")
        task_id, headline = shown_evidence(answer.value)
        assert task_id == ids[name] and headline
        page.wait_for_function("([selector, text]) => [...document.querySelectorAll(selector)].some("
                               "(e) => e.innerText.startsWith(text))", arg=[EVIDENCE, headline])
        page.screenshot(path=str(ARTIFACTS / f"list-open-{name}.png"))
        seen[name] = (page.inner_text(".htx-taxonomy").strip(), page.inner_text(EVIDENCE))
    label, evidence = seen["broken"]
    assert label == "Halyomorpha halys" and evidence.startswith("Suggested: Halyomorpha halys, ")
    label, evidence = seen["stuck"]
    assert evidence.startswith("Not pre-labelled: the image could not be used (unreadable")
    assert evidence.splitlines()[1].startswith("What to do: ")


def test_a_failed_task_heals_when_the_stream_serves_it(page, label_studio, env, reviewed):  # noqa: F811
    """The photo of `cracked` is mended; in the review tab, "Label Tasks As Displayed" serves the failed tasks
    first: Label Studio asks the backend for each (no prediction of the project's model_version), which tries
    again while the page waits: `cracked` shows its label; `stuck`, failed a third time at least, why it failed
    and to label it by hand, with no promise of another try; no reload."""
    project_id, ids = reviewed
    solid_image(label_studio.files_root / "review-list" / "cracked.jpg", PHOTOS["red"])
    [tab] = [v for v in label_studio.client().views.list(project=project_id) if v.data["title"] == REVIEW_TAB]
    page.goto(f"{label_studio.url}/projects/{project_id}/data?tab={tab.id}")
    page.click("button[aria-label='Toggle open']")
    with page.expect_response(lambda response: NEXT_TASK in response.url) as first:
        page.click("text=Label Tasks As Displayed")
    answer, seen = first.value, {}
    while answer.ok and not {ids["cracked"], ids["stuck"]} <= set(seen):
        task_id, headline = shown_evidence(answer)
        page.wait_for_function("([selector, text]) => [...document.querySelectorAll(selector)].some("
                               "(e) => e.innerText.startsWith(text))", arg=[EVIDENCE, headline])
        page.screenshot(path=str(ARTIFACTS / f"stream-{task_id}.png"))
        seen[task_id] = (page.inner_text(".htx-taxonomy").strip(), page.inner_text(EVIDENCE))
        with page.expect_response(lambda response: NEXT_TASK in response.url) as following:
            page.click("button:has-text('Skip')")
        answer = following.value
    label, evidence = seen[ids["cracked"]]
    assert label == "Halyomorpha halys" and evidence.startswith("Suggested: Halyomorpha halys, ")
    label, evidence = seen[ids["stuck"]]
    assert evidence.startswith("Not pre-labelled: the image could not be used (unreadable")
    tries = wait_until(lambda: (n := failed_tries(env, ids["stuck"])) >= 3 and n, 60, what="the third failure")
    assert evidence.splitlines()[1] == (f"What to do: Prelabel failed {tries} times in a row on this image: label "
                                        "it by hand. If many tasks say this, tell whoever runs Prelabel.")


def test_the_sample_tab_s_stream_serves_exactly_the_sampled_tasks(page, label_studio: LabelStudio):  # noqa: F811
    """`prelabel sample` saves a tab; in it, "Label Tasks As Displayed" (the menu beside "Label All Tasks") serves
    the sampled tasks, then ends. "Label All Tasks" would serve the whole project: Label Studio's frontend sends
    the tab as `tabID`, its server reads only `view` (docs/label-studio-testing.md)."""
    colours = {f"t{n}": (40 * n, 90, 60) for n in range(5)}
    project_id, ids = image_project(label_studio, "Review sample stream", make_label_config(five_labels()),
                                    colours, "review-sample")
    sampled = sorted([ids["t1"], ids["t3"]])
    design = Design.new(1, "v1", {None: 5}, {None: 2})
    [(view_id, _)] = replace_views(Studio(label_studio.url, label_studio.token), project_id, design, sampled)

    # What the button "Label All Tasks" sends in that tab (nothing selected): the tab as tabID, no filters.
    url = f"{label_studio.url}{NEXT_TASK}&project={project_id}&tabID={view_id}"
    served = requests.post(url, json={}, headers=label_studio.headers, timeout=30).json()["id"]
    assert served not in sampled  # the whole project's stream: why reviewers must not press it

    def next_task(response) -> bool:
        return NEXT_TASK in response.url

    page.goto(f"{label_studio.url}/projects/{project_id}/data?tab={view_id}")
    page.click("button[aria-label='Toggle open']")  # the arrow beside "Label All Tasks"
    with page.expect_response(next_task) as first:
        page.click("text=Label Tasks As Displayed")
    answers = [first.value]
    while answers[-1].ok:  # label each served task, as a reviewer would, until the stream ends
        page.wait_for_selector(".lsf-choices label")
        page.click(".lsf-choices label >> nth=0")
        with page.expect_response(next_task) as following:
            page.click("button:has-text('Submit')")
        answers.append(following.value)
        assert len(answers) <= len(colours) + 1, "the stream never ended"
    page.screenshot(path=str(ARTIFACTS / "sample-stream-end.png"))
    assert sorted(answer.json()["id"] for answer in answers[:-1]) == sampled
    assert answers[-1].status == 404  # then it ends: no task outside the sample


def test_another_vocabulary_s_project_stays_apart(page, label_studio, env, deployed, reviewed):  # noqa: F811
    """Issue 21: two projects, two vocabularies, one Label Studio. A `setup` of the defects vocabulary's photos
    against this deployment (it serves the pests vocabulary: the wrong --backend-url) is refused in one line;
    the defects project gets no prediction, model_version or pests label, and the pests project keeps its own."""
    project_id, _ = reviewed
    client = label_studio.client()

    def state(project: int) -> tuple:
        return (client.projects.get(id=project).model_version,
                sorted((p.task, p.model_version, p.score) for p in client.predictions.list(project=project)))

    before = state(project_id)
    folder = label_studio.files_root / "review-defects"
    solid_image(folder / "grey.jpg", (128, 128, 128))
    made = invoke("setup", "--title", "Review defects", "--images", str(folder), "--backend-url", deployed[0],
                  env={**env, "PRELABEL_VOCAB": str(DEFECTS_VOCAB)})
    [refusal] = [line for line in made.stderr.splitlines() if line.startswith("Error: ")]
    assert made.exit_code != 0 and refusal.startswith(f"Error: the backend at {deployed[0]} refuses project ")
    assert "the project belongs to another vocabulary" in refusal  # its own reason, not Label Studio's guess
    [other] = [p for p in client.projects.list() if p.title == "Review defects"]
    assert list(client.ml.list(project=other.id)) == []  # not connected: it never asks this backend
    [task] = list(client.tasks.list(project=other.id))
    page.goto(f"{label_studio.url}/projects/{other.id}/data?task={task.id}")
    page.wait_for_selector(".htx-taxonomy")
    page.screenshot(path=str(ARTIFACTS / "another-vocabulary.png"))
    assert "Halyomorpha" not in page.inner_text(".htx-taxonomy")
    assert state(other.id) == (other.model_version, []) and not other.model_version  # nothing of this backend's
    assert state(project_id) == before  # the pests project: same model_version, same predictions
