"""qa_eval: the evaluation harness of article-qa (the checkout's ``eval/`` directory).

It measures the runtime package ``qa`` from outside, through its public API: retrieval and answer
quality on SQuAD files (``harness``), speed and size at growing scale (``bench``), and the
scripts that fitted the shipped defaults (``tune_fusion``, ``tune_reader``, ``train_extractor``,
``compare_segmenters``). ``qa eval`` and ``qa bench`` run it: ``qa.cli`` imports only the light
``qa_eval.cli`` (their options) until one runs, and nothing else in ``qa`` imports it, so the
runtime never loads matplotlib or the tuning code.
"""
