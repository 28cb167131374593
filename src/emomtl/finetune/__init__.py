"""Fine-tuning the encoder together with the shared layer and the heads (issue 11).

Modules, one job each:

* :mod:`~emomtl.finetune.config`    ``FinetuneConfig``: the hyper-parameters, validated
* :mod:`~emomtl.finetune.sampler`   task-homogeneous, length-bucketed batches and the task schedule
* :mod:`~emomtl.finetune.precision` device and precision resolution (cpu bf16 / fp32, CUDA AMP)
* :mod:`~emomtl.finetune.model`     ``FinetuneModel``: transformers encoder + pooling + MultiTaskNet
* :mod:`~emomtl.finetune.optim`     AdamW parameter groups (layer-wise lr decay) and the schedule
* :mod:`~emomtl.finetune.data`      corpora -> token ids and targets per split
* :mod:`~emomtl.finetune.loop`      the training loop of one seed, dev evaluation, model selection
* :mod:`~emomtl.finetune.run`       N seeds into the results store, one seed written at a time
* :mod:`~emomtl.finetune.bundle`    bundles that carry the fine-tuned encoder

Heavy dependencies (torch, transformers) are imported inside functions or by the modules that
need them, so importing this package stays cheap.
"""
