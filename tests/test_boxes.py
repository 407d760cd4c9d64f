"""Predicted and reviewed rectangle regions matched by IoU: every figure computed by hand in the comments."""

from __future__ import annotations

import pytest

from prelabel.studio.boxes import Box, boxes, iou, match


def region(x, y, width, height, label="Halyomorpha halys", rotation=0, region_id="r", kind="rectanglelabels",
           size=(1000, 500)):
    value = {"x": x, "y": y, "width": width, "height": height, "rotation": rotation}
    if kind == "rectanglelabels":
        value["rectanglelabels"] = [label] if label else []
    return {"id": region_id, "from_name": "box", "to_name": "image", "type": kind, "original_width": size[0],
            "original_height": size[1], "image_rotation": 0, "value": value, "score": 0.8}


def test_regions_are_read_from_label_studio_results():
    result = [region(10, 20, 30, 40, region_id="a"), region(1, 2, 3, 4, label=None, region_id="b"),
              region(5, 5, 5, 5, kind="rectangle", region_id="c"),
              {"type": "choices", "from_name": "label", "to_name": "image", "value": {"choices": ["x"]}},
              region(5, 5, 0, 5, region_id="no-area"), {"type": "rectanglelabels", "value": {"x": "1"}}, "junk",
              {**region(1, 1, 1, 1, region_id="other"), "from_name": "other"}]
    found = boxes(result, from_name="box")
    assert [(b.region_id, b.label) for b in found] == [("a", "Halyomorpha halys"), ("b", None), ("c", None)]
    assert found[0] == Box(10, 20, 30, 40, "Halyomorpha halys", 0.0, "a", 0.8, 1000, 500)
    assert len(boxes(result)) == 4  # every from_name


def test_iou_of_axis_aligned_boxes():
    a = Box(0, 0, 10, 10)
    assert iou(a, a) == 1.0
    # shifted right by 5: overlap 5x10 = 50, union 100 + 100 - 50 = 150
    assert iou(a, Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    # inside: 5x5 = 25 of 100
    assert iou(a, Box(0, 0, 5, 5)) == pytest.approx(0.25)
    assert iou(a, Box(20, 20, 5, 5)) == 0.0
    # touching edges share no area
    assert iou(a, Box(10, 0, 10, 10)) == 0.0


def test_a_box_that_does_not_say_its_image_size_is_compared_in_percent():
    # the same 10% x 20% box, once with the image's size (100 x 100 px) and once without
    assert iou(Box(10, 20, 10, 20, image_width=1000, image_height=500), Box(10, 20, 10, 20)) == 1.0
    assert iou(Box(10, 20, 10, 20, image_width=1000, image_height=500), Box(15, 20, 10, 20)) == pytest.approx(1 / 3)


def test_iou_is_taken_in_pixels_when_a_box_turns():
    # A 10% x 20% box of a 1000x500 image is 100x100 px. Turned 90 degrees about its top-left corner (x=100 px,
    # y=100 px) it covers x 0..100, y 100..200 px: no overlap with the unturned one (x 100..200).
    square = Box(10, 20, 10, 20, image_width=1000, image_height=500)
    turned = Box(10, 20, 10, 20, rotation=90, image_width=1000, image_height=500)
    assert iou(square, turned) == pytest.approx(0.0, abs=1e-9)
    # ... and exactly where the unturned box one width to the left lies (x 0..100 px, y 100..200 px).
    assert iou(turned, Box(0, 20, 10, 20, image_width=1000, image_height=500)) == pytest.approx(1.0)
    # Turned 45 degrees, the part of it right of the corner is the triangle (0,0) (70.7,70.7) (0,141.4) px from
    # the corner, 5000 px2; the square cuts off its tip above y = 100: a right triangle with legs 41.4 px
    # (141.4 - 100), 857.9 px2. Overlap 4142.1, union 10000 + 10000 - 4142.1.
    half = Box(10, 20, 10, 20, rotation=45, image_width=1000, image_height=500)
    tip = (100 * 2 ** 0.5 - 100) ** 2 / 2
    assert iou(square, half) == pytest.approx((5000 - tip) / (15000 + tip))
    assert iou(half, half) == pytest.approx(1.0)


def test_match_sorts_every_outcome():
    predicted = [Box(0, 0, 10, 10, "A", region_id="kept"),
                 Box(20, 0, 10, 10, "A", region_id="moved"),
                 Box(40, 0, 10, 10, "A", region_id="relabelled"),
                 Box(60, 0, 10, 10, None, region_id="named"),
                 Box(80, 0, 10, 10, "B", region_id="deleted")]
    reviewed = [Box(0, 0, 10, 10, "A"),
                Box(22, 0, 10, 10, "A"),  # overlap 8x10 = 80, union 120: IoU 2/3
                Box(40, 0, 10, 10, "C"),
                Box(60, 0, 10, 10, "B"),
                Box(0, 50, 10, 10, "B", region_id="drawn")]
    found = match(predicted, reviewed)
    assert [p.predicted.region_id for p in found.kept] == ["kept"]
    assert [(p.predicted.region_id, round(p.iou, 4)) for p in found.moved] == [("moved", round(2 / 3, 4))]
    assert [(p.predicted.region_id, p.predicted.label, p.reviewed.label) for p in found.relabelled] == [
        ("relabelled", "A", "C"), ("named", None, "B")]
    assert [b.region_id for b in found.deleted] == ["deleted"]
    assert [b.region_id for b in found.drawn] == ["drawn"]


def test_a_box_moved_too_far_is_one_deleted_and_one_drawn():
    # shifted by 4: overlap 6x10 = 60, union 140: IoU 0.43 < 0.5
    found = match([Box(0, 0, 10, 10, "A")], [Box(4, 0, 10, 10, "A")])
    assert not found.pairs and len(found.deleted) == 1 and len(found.drawn) == 1
    # shifted by 3: overlap 70, union 130: IoU 0.54 >= 0.5
    assert [p.iou for p in match([Box(0, 0, 10, 10, "A")], [Box(3, 0, 10, 10, "A")]).moved] == [
        pytest.approx(70 / 130)]


def test_greedy_pairs_the_best_overlap_first():
    # P1 overlaps R1 by 0.9 (shift 0.5: 95/105) and R2 by 2/3 (shift 2); P2 overlaps R2 by 1. P1 takes R1, P2 R2.
    p1, p2 = Box(0, 0, 10, 10, "A", region_id="p1"), Box(2, 0, 10, 10, "A", region_id="p2")
    r1, r2 = Box(0.5, 0, 10, 10, "A", region_id="r1"), Box(2, 0, 10, 10, "A", region_id="r2")
    found = match([p1, p2], [r1, r2])
    assert [(p.predicted.region_id, p.reviewed.region_id) for p in found.pairs] == [("p1", "r1"), ("p2", "r2")]
    # Two reviewed boxes exactly on one predicted box: the one with its label wins the tie.
    found = match([Box(0, 0, 10, 10, "A")], [Box(0, 0, 10, 10, "B", region_id="b"),
                                              Box(0, 0, 10, 10, "A", region_id="a")])
    assert [p.reviewed.region_id for p in found.kept] == ["a"] and [b.region_id for b in found.drawn] == ["b"]


def test_nothing_predicted_or_nothing_reviewed():
    assert match([], []).pairs == ()
    found = match([], [Box(0, 0, 1, 1, "A")])
    assert len(found.drawn) == 1 and not found.deleted
    found = match([Box(0, 0, 1, 1, "A")], [])
    assert len(found.deleted) == 1 and not found.drawn
