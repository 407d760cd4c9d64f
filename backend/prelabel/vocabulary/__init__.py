"""The domain vocabulary and TLAC normalisation: free-text names onto one of the project's labels, or an honest none.

- `vocab`: load and validate a vocabulary YAML, all or nothing, every problem as file:line: field: message.
- `textnorm`, `normalize`: how names are written; the normaliser (exact, alias, rule, fuzzy, embedding,
  ambiguous, none: docs/normalisation.md).
- `structure`: how a sentence holds a name: negated, offered as one of alternatives, one of several affirmed,
  a modifier of another noun, a place (NegEx triggers in English, particles and predicates in Japanese).
- `japanese`, `everyday`, `loanwords`: Japanese words, readings and spellings (Sudachi); which words are
  everyday words (wordfreq); katakana loanwords and their English words.
- `screening`, `suggested`: the checks an MLLM-written description or name passes before it is kept; suggested
  names beside the vocabulary (`<vocab>.suggested.yaml`) for an expert to accept or reject.
- `descriptions`: class descriptions kept beside the vocabulary (`<vocab>.descriptions.yaml`) for CLIP.
"""
