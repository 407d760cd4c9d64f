"""The list columns' writer (prelabel.delivery.columns) against the real Label Studio and Redis: one Data Manager
action per distinct value instead of one task update per task, the runner-ups (a list) one task at a time, beside
the bulk prediction writes and never ahead of them; a Label Studio that refuses the action still gets every
column, and columns a stopped worker did not write wait in Redis for the next."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import PALETTE, image_project, wait_until
from prelabel.delivery import columns as column_module
from prelabel.delivery.columns import IDS_PER_CALL, ColumnQueue, ColumnWriter, FieldWrite, plan
from prelabel.delivery.ledger import Ledger
from prelabel.delivery.results import ResultStore
from prelabel.delivery.writer import BatchWriter, Outgoing
from prelabel.studio.client import LabelStudio
from prelabel.studio.columns import RUNNER_UPS, SCORE, SUGGESTED
from test_writer import CONFIG, V1, prediction, versions


@contextlib.contextmanager
def unavailable_server() -> Iterator[str]:
    """A real HTTP server that answers every request 503, as a Label Studio behind a proxy that lost it does."""

    class Unavailable(BaseHTTPRequestHandler):
        def do_PATCH(self) -> None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PATCH

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def data_of(label_studio, task_id: int) -> dict:
    return label_studio.client().tasks.get(id=task_id).data


def test_the_plan_groups_strings_and_numbers_by_value_and_leaves_lists_to_single_updates():
    tasks = {
        1: ({"image": "a"}, {SUGGESTED: "rust", SCORE: 0.9}),
        2: ({"image": "b"}, {SUGGESTED: "rust", SCORE: 0.5}),
        3: ({"image": "c", SUGGESTED: "rust"}, {SUGGESTED: "rust", SCORE: 0.9}),  # holds the suggestion already
        4: ({"image": "d"}, {SUGGESTED: "dent", SCORE: 0}),  # an int score groups with the float one
        5: ({"image": "e"}, {SUGGESTED: "dent", SCORE: 0.0}),
        6: ({"image": "f"}, {SUGGESTED: "rust", SCORE: 0.9, RUNNER_UPS: [{"value": "dent 8%", "alias": "dent"}]}),
        7: ({"image": "g", SUGGESTED: "rust", SCORE: 0.9}, {SUGGESTED: "rust", SCORE: 0.9}),  # nothing to write
        8: ({"image": "h"}, {SUGGESTED: "dent", SCORE: 0.5, RUNNER_UPS: []}),  # no runner-ups, none before
        9: ({"image": "i", RUNNER_UPS: [{"value": "rust 3%", "alias": "rust"}]}, {RUNNER_UPS: []}),  # now none
    }
    found = plan(tasks)
    assert sorted(found.fields, key=repr) == sorted([
        FieldWrite(SUGGESTED, "rust", (1, 2)), FieldWrite(SUGGESTED, "dent", (4, 5, 8)),
        FieldWrite(SCORE, 0.9, (1, 3)), FieldWrite(SCORE, 0.5, (2, 8)), FieldWrite(SCORE, 0.0, (4, 5))], key=repr)
    assert found.whole == {6: {"image": "f", SUGGESTED: "rust", SCORE: 0.9,
                               RUNNER_UPS: [{"value": "dent 8%", "alias": "dent"}]},
                           9: {"image": "i", RUNNER_UPS: []}}


def test_the_plan_splits_a_large_group_into_calls_of_bounded_size():
    tasks = {task: ({}, {SUGGESTED: "rust"}) for task in range(IDS_PER_CALL * 2 + 5)}
    assert [len(write.task_ids) for write in plan(tasks).fields] == [IDS_PER_CALL, IDS_PER_CALL, 5]


def test_a_boolean_is_not_written_as_a_number():
    assert plan({1: ({}, {"flag": True})}).fields == []  # a task update keeps its type
    assert plan({1: ({}, {"flag": True})}).whole == {1: {"flag": True}}


def test_columns_are_written_with_one_call_per_distinct_value(label_studio, redis_conn):
    colours = {f"c{n}": (n * 30, 90, 200 - n * 30) for n in range(6)}
    project_id, ids = image_project(label_studio, "Columns grouped", CONFIG, colours, "grouped")
    studio = LabelStudio(label_studio.url, label_studio.token)
    wanted = {task_id: {SUGGESTED: "Halyomorpha halys" if n % 2 else "Nezara viridula", SCORE: (0.9, 0.75, 0.5)[n % 3]}
              for n, task_id in enumerate(ids.values())}
    before = {task_id: data_of(label_studio, task_id) for task_id in wanted}
    writer = ColumnWriter(studio, ColumnQueue(redis_conn))
    writer.submit(project_id, {task_id: (before[task_id], columns) for task_id, columns in wanted.items()})
    writer.close()
    for task_id, columns in wanted.items():
        assert data_of(label_studio, task_id) == {**before[task_id], **columns}  # the image untouched
    assert studio.calls["write list columns in bulk"] == 2 + 3  # two suggestions, three scores
    assert studio.calls["write list columns"] == 0


def test_runner_ups_are_written_one_task_at_a_time(label_studio, redis_conn):
    project_id, ids = image_project(label_studio, "Columns listed", CONFIG, {"listed": PALETTE["red"]}, "listed")
    studio = LabelStudio(label_studio.url, label_studio.token)
    task_id = ids["listed"]
    columns = {SUGGESTED: "Nezara viridula", SCORE: 0.81,
               RUNNER_UPS: [{"value": "Halyomorpha halys 12%", "alias": "Halyomorpha halys"}]}
    writer = ColumnWriter(studio, ColumnQueue(redis_conn))
    writer.submit(project_id, {task_id: (data_of(label_studio, task_id), columns)})
    writer.close()
    assert {key: data_of(label_studio, task_id)[key] for key in columns} == columns
    assert (studio.calls["write list columns"], studio.calls["write list columns in bulk"]) == (1, 0)


def test_a_label_studio_that_refuses_the_action_gets_the_columns_one_task_at_a_time(label_studio, redis_conn,
                                                                                     caplog):
    """A Label Studio without `add_data_field` answers the action with an error (an unknown action id: HTTP 500,
    its answer here): the tasks are written one by one, and the writer stops asking for the action."""
    colours = {f"r{n}": (n * 50, 60, 120) for n in range(3)}
    project_id, ids = image_project(label_studio, "Columns refused action", CONFIG, colours, "noaction")
    studio = LabelStudio(label_studio.url, label_studio.token)
    asked: list[str] = []

    def unknown_action(project: int, key: str, value: object, task_ids: list[int]) -> None:
        asked.append(key)
        studio._call("write list columns in bulk", studio.sdk.actions.create, id="no_such_action",
                     project=project, selected_items={"all": False, "included": task_ids})

    studio.set_data_field = unknown_action  # type: ignore[assignment,method-assign]
    writer = ColumnWriter(studio, ColumnQueue(redis_conn))
    first, *rest = ids.values()
    writer.submit(project_id, {first: (data_of(label_studio, first), {SUGGESTED: "Nezara viridula", SCORE: 0.6})})
    wait_until(lambda: data_of(label_studio, first).get(SCORE) == 0.6, what="the first task, one by one")
    calls_after_refusal = len(asked)
    writer.submit(project_id, {task: (data_of(label_studio, task), {SUGGESTED: "Halyomorpha halys", SCORE: 0.7})
                               for task in rest})
    writer.close()
    assert calls_after_refusal >= 1 and len(asked) == calls_after_refusal  # never asked again
    for task in rest:
        assert (data_of(label_studio, task)[SUGGESTED], data_of(label_studio, task)[SCORE]) == ("Halyomorpha halys",
                                                                                                  0.7)
    assert "refused the Data Manager's add_data_field action" in caplog.text


def test_list_columns_do_not_hold_back_the_next_bulk_write(label_studio, redis_conn):
    """The columns run beside the bulk prediction writes, after their own task's prediction: a slow column write
    never leaves predictions unwritten when a run ends."""
    project_id, ids = image_project(label_studio, "Columns beside", CONFIG,
                                    {"first": PALETTE["red"], "second": PALETTE["green"]}, "beside")
    studio = LabelStudio(label_studio.url, label_studio.token)
    held, written = threading.Event(), []
    real_set = studio.set_data_field

    def slow_set(project: int, key: str, value: str | float, task_ids: list[int]) -> None:
        held.wait(60)
        real_set(project, key, value, task_ids)
        written.extend(task_ids)

    studio.set_data_field = slow_set  # type: ignore[method-assign]
    writer = BatchWriter(studio, ResultStore(redis_conn), Ledger(redis_conn), max_wait=60,
                         column_queue=ColumnQueue(redis_conn))
    first, second = ids["first"], ids["second"]
    writer.submit(project_id, [Outgoing(first, prediction(V1))], urgent=True)
    writer.submit_columns(project_id, first, data_of(label_studio, first), {SUGGESTED: "Halyomorpha halys"})
    wait_until(lambda: versions(label_studio, first) == [V1], what="the first prediction")
    writer.submit(project_id, [Outgoing(second, prediction(V1))], urgent=True)
    wait_until(lambda: versions(label_studio, second) == [V1], what="the second prediction, columns still held")
    assert written == []  # the column write is still held up
    held.set()
    writer.close()
    assert written == [first]
    assert data_of(label_studio, first)[SUGGESTED] == "Halyomorpha halys"


@pytest.mark.parametrize("deleted_first", [True, False])
def test_a_deleted_task_costs_only_itself(label_studio, redis_conn, deleted_first):
    """A task deleted since it was predicted is not in Label Studio's selection: the others sharing its value are
    written, whether it comes first or last."""
    folder = f"deleted{int(deleted_first)}"
    project_id, ids = image_project(label_studio, f"Columns deleted {folder}", CONFIG,
                                    {"kept": PALETTE["red"], "deleted": PALETTE["green"]}, folder)
    kept_data = data_of(label_studio, ids["kept"])
    label_studio.client().tasks.delete(id=ids["deleted"])
    writer = BatchWriter(LabelStudio(label_studio.url, label_studio.token), ResultStore(redis_conn),
                         Ledger(redis_conn), column_queue=ColumnQueue(redis_conn))
    order = ("deleted", "kept") if deleted_first else ("kept", "deleted")
    for name in order:
        writer.submit_columns(project_id, ids[name], kept_data if name == "kept" else {"image": "x"},
                              {SUGGESTED: "Nezara viridula"}, urgent=True)
    writer.close()
    assert data_of(label_studio, ids["kept"]) == {**kept_data, SUGGESTED: "Nezara viridula"}


def test_two_takes_share_nothing_and_miss_nothing(redis_conn):
    queue = ColumnQueue(redis_conn)
    queue.add(7, {task: ({"image": f"{task}.jpg"}, {SUGGESTED: "rust"}) for task in range(1, 1201)})
    first, second, third = queue.take(7, 500), queue.take(7, 500), queue.take(7, 500)
    assert (len(first), len(second), len(third)) == (500, 500, 200)
    assert set(first) | set(second) | set(third) == set(range(1, 1201))
    assert not set(first) & set(second) and queue.take(7) == {}
    assert queue.projects() == []  # forgotten once empty
    assert {**first, **second, **third}[1200] == ({"image": "1200.jpg"}, {SUGGESTED: "rust"})


def test_a_malformed_queue_entry_is_dropped_and_the_rest_taken(redis_conn, caplog):
    queue = ColumnQueue(redis_conn)
    queue.add(8, {1: ({"image": "a"}, {SUGGESTED: "rust"})})
    redis_conn.hset("prelabel:columns:8", mapping={"2": "{not json", "x": "[{}, {}]", "3": "[1, 2]"})
    assert queue.take(8) == {1: ({"image": "a"}, {SUGGESTED: "rust"})}
    assert caplog.text.count("malformed: dropped") == 3


def test_columns_a_stopped_worker_left_are_written_by_the_next(label_studio, redis_conn, monkeypatch):
    """A worker killed (or out of time as it stops) with columns it has not written leaves them in Redis; the
    next worker's column thread finds them on its own and writes them."""
    colours = {f"s{n}": (n * 40, 70, 150) for n in range(3)}
    project_id, ids = image_project(label_studio, "Columns left", CONFIG, colours, "left")
    studio = LabelStudio(label_studio.url, label_studio.token)
    wanted = {task: (data_of(label_studio, task), {SUGGESTED: "Nezara viridula", SCORE: 0.66}) for task in ids.values()}
    ColumnQueue(redis_conn).add(project_id, wanted)  # what a worker's submit queues; then the worker was killed
    assert ColumnQueue(redis_conn).waiting(project_id) == len(wanted)
    assert all(SUGGESTED not in data_of(label_studio, task) for task in wanted)
    monkeypatch.setattr(column_module, "LOOK_EVERY", 0.2)
    following = ColumnWriter(studio, ColumnQueue(redis_conn))  # nothing submitted to it
    try:
        for task in wanted:
            wait_until(lambda task=task: data_of(label_studio, task).get(SCORE) == 0.66, what="the columns left")
    finally:
        following.close()
    assert ColumnQueue(redis_conn).waiting(project_id) == 0


def test_a_project_deleted_in_label_studio_drops_its_queued_columns(label_studio, redis_conn, caplog):
    project_id, ids = image_project(label_studio, "Columns of a deleted project", CONFIG,
                                    {"gone": PALETTE["red"]}, "goneproject")
    queue = ColumnQueue(redis_conn)
    queue.add(project_id, {ids["gone"]: ({"image": "x"}, {SUGGESTED: "Nezara viridula"})})
    label_studio.client().projects.delete(id=project_id)
    studio = LabelStudio(label_studio.url, label_studio.token)
    writer = ColumnWriter(studio, queue)
    writer.close()
    assert queue.waiting(project_id) == 0 and project_id not in queue.projects()
    assert "gone from Label Studio: 1 task(s)' list columns dropped" in caplog.text
    assert studio.calls["write list columns"] == 0  # no task-by-task tries on a project that is gone


def test_columns_wait_in_the_queue_while_label_studio_is_away(redis_conn, caplog):
    """Label Studio not answering (nothing listens on its port): the take goes back to the queue, and the
    thread backs off instead of dropping it."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    queue = ColumnQueue(redis_conn)
    wanted = {task: ({"image": f"{task}.jpg"}, {SUGGESTED: "rust", SCORE: 0.5}) for task in (11, 12, 13)}
    queue.add(99, wanted)
    writer = ColumnWriter(LabelStudio(f"http://127.0.0.1:{port}", "token"), queue)
    wait_until(lambda: "queued again" in caplog.text, what="the first failed try")
    writer.close()  # tries once more as it stops, and leaves them queued
    assert queue.take(99) == wanted


def test_task_updates_failing_in_a_row_go_back_to_the_queue(redis_conn, caplog):
    """Runner-ups are written task by task: when Label Studio fails three in a row (here: a 503 from a real
    HTTP server), the rest of the take is not tried one by one for nothing: it goes back to the queue."""
    with unavailable_server() as url:
        queue = ColumnQueue(redis_conn)
        listed = [{"value": "dent 8%", "alias": "dent"}]
        wanted = {task: ({"image": f"{task}.jpg"}, {SUGGESTED: "rust", RUNNER_UPS: listed}) for task in range(1, 9)}
        queue.add(5, wanted)
        studio = LabelStudio(url, "token")
        writer = ColumnWriter(studio, queue)
        wait_until(lambda: "queued again" in caplog.text, what="three failed updates")
        writer.close()
    assert studio.calls["write list columns"] <= 2 * column_module.FAILURES_IN_A_ROW  # as it ran, and as it stopped
    assert queue.take(5) == wanted


def test_columns_put_back_never_replace_newer_ones(redis_conn):
    queue = ColumnQueue(redis_conn)
    queue.add(4, {1: ({}, {SUGGESTED: "rust"}), 2: ({}, {SUGGESTED: "rust"})})
    taken = queue.take(4)
    queue.add(4, {1: ({}, {SUGGESTED: "dent"})})  # task 1 predicted again meanwhile
    queue.put_back(4, taken)
    assert queue.take(4) == {1: ({}, {SUGGESTED: "dent"}), 2: ({}, {SUGGESTED: "rust"})}


def test_a_stop_out_of_time_leaves_the_columns_queued(redis_conn, monkeypatch, caplog):
    """A stopping worker writes for DRAIN_ON_CLOSE seconds at most; what it could not reach stays for the next
    (here no time at all: nothing is written, nothing is lost)."""
    monkeypatch.setattr(column_module, "DRAIN_ON_CLOSE", 0.0)
    queue = ColumnQueue(redis_conn)
    with unavailable_server() as url:
        studio = LabelStudio(url, "token")
        writer = ColumnWriter(studio, queue)
        wanted = {3: ({"image": "3.jpg"}, {SUGGESTED: "rust"})}
        queue.add(6, wanted)  # queued as by a job's submit, not yet looked at
        writer.close()
    assert "still queued: the next worker writes them" in caplog.text
    assert studio.calls["write list columns in bulk"] == 0
    assert queue.take(6) == wanted
