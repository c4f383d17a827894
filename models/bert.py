"""BERT: "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding", Devlin et al. 2018,
as in the paper and Google's released code (google-research/bert, modeling.py).

- Input (Sec. 3, Fig. 2): the sum of token (WordPiece), learned position and segment (A/B) embeddings, then a
  LayerNorm and dropout (modeling.py, `embedding_postprocessor`).
- The encoder (Sec. 3): L post-norm Transformer encoder blocks (Vaswani et al. 2017) of A heads, hidden size H,
  feed-forward size 4H with a GELU (the erf form of the released code), dropout 0.1 everywhere, LayerNorm epsilon
  1e-12; padding is masked out of the keys.
- Pre-training (Sec. 3.1): the masked LM head (a dense layer with a GELU, a LayerNorm, then the output layer tied to
  the token embeddings with its own bias) and, optionally, the next-sentence head on the pooled [CLS] vector.
- The pooler (modeling.py): tanh(W h_[CLS] + b), the sentence representation that fine-tuning classifies (Sec. 3.2:
  pooler -> dropout -> a linear layer of num_labels).
- Initialisation (modeling.py, `initializer_range`): N(0, 0.02) weights, zero biases.

Sizes: BERT_BASE (L=12, H=768, A=12, 110M) and BERT_LARGE (L=24, H=1024, A=16, 340M), Sec. 3; and the small
BERTs of Turc et al. 2019 ("Well-Read Students Learn Better"): tiny (2/128), mini (4/256), small (4/512), for a CPU.
`load_hf_bert_state_dict()` takes the weights of Hugging Face's BertForMaskedLM, BertForPreTraining or
BertForSequenceClassification.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .inputs import check_tokens
from .registry import register_model


class Embeddings(nn.Module):
    """Token + position + segment embeddings, LayerNorm, dropout (Fig. 2). (B, T) ids -> (B, T, H)."""

    def __init__(self, vocab_size: int, H: int, *, max_position: int, type_vocab_size: int, dropout: float):
        super().__init__()
        self.token = nn.Embedding(vocab_size, H)
        self.position = nn.Embedding(max_position, H)
        self.segment = nn.Embedding(type_vocab_size, H)
        self.norm = nn.LayerNorm(H, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.token(input_ids) + self.position(positions) + self.segment(segment_ids)
        return self.dropout(self.norm(x))


class SelfAttention(nn.Module):
    """Multi-head self-attention with W_Q, W_K, W_V and the output projection W_O; padding masked out of the keys."""

    def __init__(self, H: int, A: int, *, dropout: float):
        super().__init__()
        self.A, self.dropout = A, dropout
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Linear(H, H) for _ in range(4))

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        q, k, v = (w(x).unflatten(-1, (self.A, -1)).transpose(1, 2) for w in (self.w_q, self.w_k, self.w_v))
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :], dropout_p=p)
        return self.w_o(out.transpose(1, 2).flatten(2))


class EncoderLayer(nn.Module):
    """Post-norm: x = LN(x + Dropout(Attention(x))); x = LN(x + Dropout(W_2 GELU(W_1 x)))."""

    def __init__(self, H: int, A: int, *, intermediate: int, dropout: float):
        super().__init__()
        self.attention = SelfAttention(H, A, dropout=dropout)
        self.norm1 = nn.LayerNorm(H, eps=1e-12)
        self.w_1, self.w_2 = nn.Linear(H, intermediate), nn.Linear(intermediate, H)
        self.norm2 = nn.LayerNorm(H, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout(self.attention(x, key_mask)))
        return self.norm2(x + self.dropout(self.w_2(F.gelu(self.w_1(x)))))


class MaskedLMHead(nn.Module):
    """Dense + GELU + LayerNorm, then the token embeddings (tied: passed in) and a bias: (B, T, H) -> (B, T, V)."""

    def __init__(self, H: int, vocab_size: int):
        super().__init__()
        self.dense, self.norm = nn.Linear(H, H), nn.LayerNorm(H, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden: torch.Tensor, token_embedding: torch.Tensor) -> torch.Tensor:
        return F.linear(self.norm(F.gelu(self.dense(hidden))), token_embedding, self.bias)


class Bert(nn.Module):
    """BERT with the heads it is built with: `masked_lm` (pre-training; by default unless it has a classifier),
    `next_sentence`, and a classifier of `num_labels` (fine-tuning). `forward` gives the masked LM's logits
    (B, T, vocab) if it has that head, else the classifier's (B, num_labels). Ids (B, T); `segment_ids` (B, T) 0
    for sentence A, 1 for B (default all 0); `attention_mask` (B, T) True (or 1) at real tokens (default: all
    real)."""

    def __init__(self, *, vocab_size: int = 30522, L: int = 12, H: int = 768, A: int = 12,
                 intermediate: int | None = None, max_position: int = 512, type_vocab_size: int = 2,
                 dropout: float = 0.1, masked_lm: bool | None = None, next_sentence: bool = False, num_labels: int = 0,
                 pad_id: int = 0):  # fmt: skip
        super().__init__()
        if H % A:
            raise ValueError(f"H={H} must be divisible by A={A} heads")
        self.vocab_size, self.max_position, self.pad_id = vocab_size, max_position, pad_id
        sizes = {"max_position": max_position, "type_vocab_size": type_vocab_size}
        self.embeddings = Embeddings(vocab_size, H, **sizes, dropout=dropout)
        layer = {"intermediate": intermediate or 4 * H, "dropout": dropout}
        self.layers = nn.ModuleList(EncoderLayer(H, A, **layer) for _ in range(L))
        self.pooler = nn.Linear(H, H) if next_sentence or num_labels else None
        self.mlm = MaskedLMHead(H, vocab_size) if (not num_labels if masked_lm is None else masked_lm) else None
        self.nsp = nn.Linear(H, 2) if next_sentence else None
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(H, num_labels)) if num_labels else None
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def encode(self, input_ids: torch.Tensor, segment_ids: torch.Tensor | None = None,
               attention_mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """The last layer's hidden states (B, T, H)."""
        check_tokens(input_ids, self.vocab_size, "input_ids")
        if input_ids.shape[1] > self.max_position:
            raise ValueError(f"{input_ids.shape[1]} tokens exceed max_position={self.max_position}; cut the text")
        segment_ids = torch.zeros_like(input_ids) if segment_ids is None else segment_ids
        key_mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        x = self.embeddings(input_ids, segment_ids)
        for layer in self.layers:
            x = layer(x, key_mask)
        return x

    def pooled(self, hidden: torch.Tensor) -> torch.Tensor:
        """tanh(W h_[CLS] + b): (B, T, H) -> (B, H)."""
        if self.pooler is None:
            raise ValueError("this BERT has no pooler; build it with next_sentence=True or num_labels > 0")
        return torch.tanh(self.pooler(hidden[:, 0]))

    def classify(self, input_ids, segment_ids=None, attention_mask=None) -> torch.Tensor:
        """Fine-tuning's logits (B, num_labels) from the pooled [CLS] vector."""
        if self.classifier is None:
            raise ValueError("this BERT has no classifier; build it with num_labels > 0")
        return self.classifier(self.pooled(self.encode(input_ids, segment_ids, attention_mask)))

    def next_sentence_logits(self, input_ids, segment_ids=None, attention_mask=None) -> torch.Tensor:
        """IsNext / NotNext logits (B, 2) (Sec. 3.1, Task #2)."""
        if self.nsp is None:
            raise ValueError("this BERT has no next-sentence head; build it with next_sentence=True")
        return self.nsp(self.pooled(self.encode(input_ids, segment_ids, attention_mask)))

    def forward(self, input_ids, segment_ids=None, attention_mask=None) -> torch.Tensor:
        if self.mlm is None:
            return self.classify(input_ids, segment_ids, attention_mask)
        return self.mlm(self.encode(input_ids, segment_ids, attention_mask), self.embeddings.token.weight)

    def edge_layers(self) -> set[str]:
        """The input and output layers (module names): Muon leaves them to AdamW (Jordan et al. 2024)."""
        heads = {"mlm", "nsp", "classifier.1"} & {name for name, _ in self.named_modules()}
        return {"embeddings.token", "embeddings.position", "embeddings.segment", *heads}


HF_LAYER = {  # Hugging Face's name within encoder.layer.{i} -> ours within layers.{i}
    "attention.self.query": "attention.w_q",
    "attention.self.key": "attention.w_k",
    "attention.self.value": "attention.w_v",
    "attention.output.dense": "attention.w_o",
    "attention.output.LayerNorm": "norm1",
    "intermediate.dense": "w_1",
    "output.dense": "w_2",
    "output.LayerNorm": "norm2",
}
HF_OTHERS = {
    "bert.embeddings.word_embeddings": "embeddings.token",
    "bert.embeddings.position_embeddings": "embeddings.position",
    "bert.embeddings.token_type_embeddings": "embeddings.segment",
    "bert.embeddings.LayerNorm": "embeddings.norm",
    "bert.pooler.dense": "pooler",
    "cls.predictions.transform.dense": "mlm.dense",
    "cls.predictions.transform.LayerNorm": "mlm.norm",
    "cls.predictions": "mlm",  # .bias
    "cls.seq_relationship": "nsp",
    "classifier": "classifier.1",
}


def hf_name(name: str) -> str | None:
    """Our parameter name for one of Hugging Face's; None for what is tied or a buffer."""
    if name.endswith("position_ids") or name.startswith("cls.predictions.decoder"):  # tied to the embeddings/bias
        return None
    parts = name.split(".")
    if parts[:3] == ["bert", "encoder", "layer"]:
        module = ".".join(parts[4:-1])
        return f"layers.{parts[3]}.{HF_LAYER[module]}.{parts[-1]}"
    module = ".".join(parts[:-1])
    return f"{HF_OTHERS[module]}.{parts[-1]}"


def load_hf_bert_state_dict(model: Bert, state_dict: dict[str, torch.Tensor]) -> None:
    """Copy the weights of Hugging Face's BertForMaskedLM, BertForPreTraining or BertForSequenceClassification into
    `model` (built with the same sizes and heads), strictly: every weight of each side is matched."""
    ours = {hf_name(name): value for name, value in state_dict.items() if hf_name(name) is not None}
    model.load_state_dict(ours, strict=True)


def _bert(L: int, H: int, A: int, **kwargs) -> Bert:
    return Bert(L=L, H=H, A=A, **kwargs)


@register_model(task=("masked_language_modeling", "text_classification"))
def bert_base(**kwargs) -> Bert:
    """BERT_BASE (Sec. 3): L=12, H=768, A=12, a 30,522-piece WordPiece vocabulary; 110M parameters."""
    return _bert(12, 768, 12, **kwargs)


@register_model(task=("masked_language_modeling", "text_classification"))
def bert_large(**kwargs) -> Bert:
    """BERT_LARGE (Sec. 3): L=24, H=1024, A=16; 340M parameters."""
    return _bert(24, 1024, 16, **kwargs)


# Turc et al. 2019's small BERTs (H/64 heads, 4H feed-forward), for a CPU; the vocabulary comes from the data.
@register_model(task=("masked_language_modeling", "text_classification"))
def bert_tiny(**kwargs) -> Bert:
    """L=2, H=128, A=2 (4.4M parameters with the 30,522-piece vocabulary; far fewer with a small one)."""
    return _bert(2, 128, 2, **kwargs)


@register_model(task=("masked_language_modeling", "text_classification"))
def bert_mini(**kwargs) -> Bert:
    """L=4, H=256, A=4."""
    return _bert(4, 256, 4, **kwargs)


@register_model(task=("masked_language_modeling", "text_classification"))
def bert_small(**kwargs) -> Bert:
    """L=4, H=512, A=8."""
    return _bert(4, 512, 8, **kwargs)
