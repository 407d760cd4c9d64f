"""Labeling configs as /setup and /predict read them: size-capped, parsed once per content.

Label Studio sends the project's whole labeling config with every /setup and /predict, and parsing it is slow
(the SDK's LabelInterface: a 24 MB config cost 64 s of CPU, per request). So a config over
PRELABEL_LABEL_CONFIG_MAX_BYTES is refused at once (413), and the outcome of parsing (a report or the error)
is kept per content hash and vocabulary version in a small LRU that lives in the service's Backend object.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from werkzeug.exceptions import RequestEntityTooLarge

from prelabel.studio.labelconfig import DEFAULT_NONE_CHOICE, ConfigReport, LabelConfigError, read_label_config
from prelabel.vocabulary.vocab import Vocabulary

CAPACITY = 64  # projects a service answers for at once, roughly; each entry holds one parsed config


class LabelConfigs:
    """Thread-safe: the service's threads share one."""

    def __init__(self, max_bytes: int, capacity: int = CAPACITY):
        self.max_bytes = max_bytes
        self.capacity = capacity
        self._parsed: OrderedDict[tuple[str, str, str], ConfigReport | LabelConfigError] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, config: str, vocabulary: Vocabulary, none_choice: str = DEFAULT_NONE_CHOICE) -> ConfigReport:
        """read_label_config's report (or its LabelConfigError), parsed once per (config, vocabulary, none
        choice); RequestEntityTooLarge (413) for a config over the cap."""
        if not isinstance(config, str):
            raise LabelConfigError("the labeling config is not text")
        size = len(config.encode("utf-8", "surrogatepass"))
        if size > self.max_bytes:
            raise RequestEntityTooLarge(f"the labeling config is {size} bytes, more than "
                                        f"PRELABEL_LABEL_CONFIG_MAX_BYTES ({self.max_bytes}): not parsed")
        key = (hashlib.sha256(config.encode("utf-8", "surrogatepass")).hexdigest(), vocabulary.version, none_choice)
        with self._lock:
            found = self._parsed.get(key)
            if found is not None:
                self._parsed.move_to_end(key)
        if found is None:
            try:
                found = read_label_config(config, vocabulary, none_choice)
            except LabelConfigError as exc:
                found = exc  # a bad config costs its parse once too
            with self._lock:
                self._parsed[key] = found
                while len(self._parsed) > self.capacity:
                    self._parsed.popitem(last=False)
        if isinstance(found, LabelConfigError):
            raise LabelConfigError(str(found))
        return found

    def __len__(self) -> int:
        return len(self._parsed)
