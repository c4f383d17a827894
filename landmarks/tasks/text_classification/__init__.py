"""Text classification: a label for a text or a pair of texts, BERT's fine-tuning (Devlin et al. 2018, Sec. 4)."""
