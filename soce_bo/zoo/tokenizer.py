"""A char-level tokenizer built locally with `tokenizers`: no hub, no download, loads offline.

Every printable ASCII character and the newline is one token, so the toy tasks need no merges
and an answer's tokens are exactly its characters. Saved through `PreTrainedTokenizerFast`, it
loads with `AutoTokenizer` in transformers and in vLLM. The post-processor prepends <bos> (as
Llama tokenizers do), so HF and vLLM tokenise a prompt identically; `Fuse` joins characters
back without inserting spaces.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
CHARACTERS = tuple(chr(c) for c in range(32, 127)) + ("\n",)
VOCAB: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + CHARACTERS)}
PAD_ID, BOS_ID, EOS_ID, UNK_ID = (VOCAB[t] for t in SPECIAL_TOKENS)


def build_tokenizer():  # -> transformers.PreTrainedTokenizerFast (imported lazily: heavy)
    """The zoo's tokenizer as a transformers fast tokenizer, ready for `save_pretrained`."""
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(vocab=VOCAB, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # one piece per char
    core.decoder = decoders.Fuse()
    core.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, BOS_ID)])
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        model_max_length=512, padding_side="left",
    )


def save_tokenizer(out_dir: Path) -> None:
    build_tokenizer().save_pretrained(str(out_dir))


def encode(text: str) -> list[int]:
    """Token ids of `text` without <bos>: the training fast path (equal to the tokenizer's, tested)."""
    return [VOCAB.get(ch, UNK_ID) for ch in text]
