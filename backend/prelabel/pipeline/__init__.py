"""One image in, one decision out: candidates (MLLM stage 1) -> normalise (+ TLAC stage 2) -> CLIP fusion -> rank.

- `factory`: builds a pipeline from settings: the one place that decides which models to load.
- `pipeline`, `result`: per image, concurrently, the stages in order; their input and output types, light
  enough for the rest of Prelabel to read without openai or torch.
- `slots`: the MLLM slots (threads) a worker keeps across jobs, and images started ahead of their job.
- `decision`: what the stages found -> a label, an honest none or a failure, with a score and a reason.
- `reasons`: that reason as a record (a code and its values), and its sentence in each language reviewers read.
- `calibration`: how a label was found -> the probability that it is right (the score); the shipped prior.
- `identity`: `ModelVersion`, `prelabel-<vocabulary>-<settings>`, computed without loading a model.
- `images`: image bytes -> an upright, downscaled RGB picture with a content hash and a JPEG data URL.
- `mllm`, `prompts`, `cache`: the multimodal LLM through `openai`; what it is asked; its answers kept in SQLite.
- `shortlist`: the labels a prompt carries when the vocabulary is large.
- `boxes`, `regions`: a region project's boxes, read in each provider's convention and mapped onto the original
  image; each finding named through the normaliser, and the image-level label derived from them.
- `clip`, `fusion`, `encoders`: open_clip models (the one loading door); class and query features, fused
  scores; text encoders for the normaliser's embedding stage.
- `summary`: the end-of-run summary, and the line that says every image failed.
- `probe`: `prelabel check`: one question to the configured endpoint, and what its answer says.
"""
