"""What every command shares: reading settings and vocabularies, and turning bad input into exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from prelabel.parts import Parts
from prelabel.pipeline.clip import ClipLoadError
from prelabel.pipeline.encoders import SpecError
from prelabel.settings import Settings, SettingsError
from prelabel.vocabulary.descriptions import DescriptionsError
from prelabel.vocabulary.vocab import VocabError, Vocabulary, load_vocabulary

# Everything a bad setting, file or model name can raise while the parts are built: exit 2, message on stderr.
SETUP_ERRORS = (VocabError, SpecError, ClipLoadError, DescriptionsError, SettingsError, ValueError)

VOCAB_OPTION = click.option("--vocab", "vocab_path", default=None,
                            help="Vocabulary YAML file (default: PRELABEL_VOCAB).")


LANGUAGE_OPTION = click.option(
    "--language", default=None, metavar="LANG",
    help="Show each label's first common name in LANG (e.g. ja); the label is stored as its alias.")

REGIONS_OPTION = click.option(
    "--regions", is_flag=True,
    help="The region layout: boxes over the image, each named from the vocabulary, beside the image-level "
         "label (docs/regions.md).")

FORCE_CONFIG_OPTION = click.option(
    "--force", "force_config", is_flag=True,
    help="Replace an existing project's labeling config by the vocabulary's (else a config of its own is kept, "
         "and said so).")

CHECK_OPTION = click.option("--no-check", "no_check", is_flag=True,
                            help="Start without first asking the MLLM endpoint one question (`prelabel check`).")


class BadInput(click.ClickException):
    """A bad argument, vocabulary or SPEC: message on stderr, exit code 2 (as for a usage error)."""

    exit_code = 2


def read_settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise BadInput(str(exc)) from None


def read_vocabulary(path: str) -> Vocabulary:
    try:
        return load_vocabulary(path)
    except VocabError as exc:
        raise BadInput(str(exc)) from None


def echo_err(text: str) -> None:
    """Messages for people go to stderr; stdout stays free for data."""
    click.echo(text, err=True)


@contextmanager
def open_parts(settings: Settings) -> Iterator[Parts]:
    """The command's shared parts, closed when it returns."""
    parts = Parts(settings)
    try:
        yield parts
    finally:
        parts.close()


def stop_unless_the_endpoint_works(settings: Settings, vocabulary: Vocabulary) -> None:
    """`prelabel check`'s question to the MLLM endpoint, before anything is started or queued: a run that every
    task would fail stops here in seconds, with the one line that says why. Without an endpoint here there is
    nothing to ask (the workers, maybe elsewhere, may have theirs; `up` says itself what an empty one means)."""
    from prelabel.pipeline.probe import check_endpoint

    if not settings.mllm_enabled:
        return

    for finding in check_endpoint(settings, vocabulary, clip=False):
        if finding.fatal:
            raise click.ClickException(f"prelabel check: {finding.topic}: {finding.text} (--no-check skips this)")
