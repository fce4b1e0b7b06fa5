"""Wiring of the data_processing pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import prepare_clauses, segment_clauses, select_study_clauses, summarise_corpus, validate_clauses


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(validate_clauses, ["raw_clauses", "params:data_processing"], ["validated_clauses", "rejected_clauses"], name="validate_clauses"),
            Node(prepare_clauses, ["validated_clauses", "rejected_clauses", "params:data_processing"], "clauses", name="prepare_clauses"),
            Node(segment_clauses, "clauses", "clause_words", name="segment_clauses"),
            Node(summarise_corpus, ["clauses", "clause_words", "rejected_clauses"], "corpus_summary", name="summarise_corpus"),
            # The clauses every variant is evaluated and attributed on (one seeded, stratified sample)
            # are fixed here, once, so a later
            # `kedro run --namespaces lora.m` of evaluation or attribution finds them on disk.
            Node(select_study_clauses, ["clauses", "corpus_summary", "params:data_processing.selection"], "study_clauses",
                 name="select_study_clauses"),
        ],
        tags="data_processing",
    )
