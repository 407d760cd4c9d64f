"""A review session in Label Studio 1.23.2, as a reviewer goes through it in headless Chromium: the sample's
label stream serves the sampled tasks and no others.

The browser and its login are test_reviewer_page's (`page`); screenshots go to tests/artifacts/reviewer/.
"""

from __future__ import annotations

import requests

from helpers import image_project
from labelstudio import LabelStudio
from prelabel.report.marking import replace_views
from prelabel.report.sample import Design
from prelabel.studio.client import LabelStudio as Studio
from prelabel.studio.labelconfig import make_label_config
from test_reviewer_page import ARTIFACTS, five_labels, page  # noqa: F401  (page: the logged-in browser)

NEXT_TASK = "/api/dm/actions?id=next_task"


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
