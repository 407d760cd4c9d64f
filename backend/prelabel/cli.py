"""The `prelabel` command: one subcommand per job, each a thin shell over a module that does the work."""

from __future__ import annotations

import json
import sys

import click

from prelabel.encoders import SpecError, load_text_encoder
from prelabel.normalize import Normalizer
from prelabel.vocab import VocabError, Vocabulary, load_vocabulary


class BadInput(click.ClickException):
    """A bad argument, vocabulary or SPEC: message on stderr, exit code 2 (as for a usage error)."""

    exit_code = 2


@click.group()
@click.version_option(package_name="prelabel")
def main() -> None:
    """Prelabel: pre-labels inspection photos for Label Studio."""


def read_vocabulary(path: str) -> Vocabulary:
    try:
        return load_vocabulary(path)
    except VocabError as exc:
        raise BadInput(str(exc)) from None


@main.command()
@click.option("--vocab", "vocab_path", required=True, help="Vocabulary YAML file.")
@click.option("--text-encoder", "encoder_spec", default=None,
              help="Turns the embedding stage on: open_clip:MODEL:PRETRAINED or sentence-transformers:PATH.")
@click.option("--embedding-threshold", type=float, default=None,
              help="Cosine similarity the nearest name must reach (default: the encoder's own).")
def normalize(vocab_path: str, encoder_spec: str | None, embedding_threshold: float | None) -> None:
    """Map answers (one per line on stdin) onto the vocabulary; one JSON object per line on stdout."""
    vocabulary = read_vocabulary(vocab_path)
    encoder = None
    if encoder_spec:
        try:
            encoder = load_text_encoder(encoder_spec)
        except SpecError as exc:
            raise BadInput(str(exc)) from None
    normalizer = Normalizer(vocabulary, text_encoder=encoder, embedding_threshold=embedding_threshold)
    stdin = click.get_text_stream("stdin", encoding="utf-8", errors="replace")
    stdout = click.get_text_stream("stdout", encoding="utf-8")
    for line in stdin:
        result = normalizer.normalize(line.rstrip("\r\n"))
        stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
