"""Model loading, fine-tuning strategies and supervised fine-tuning (no Kedro here).

Modules import torch/transformers/peft/bitsandbytes inside functions only, so importing
``rulelens.modeling`` stays fast for ``kedro viz`` and ``kedro registry list``.
"""
