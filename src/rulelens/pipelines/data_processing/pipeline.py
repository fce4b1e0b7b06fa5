"""Wiring of the data_processing pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import prepare_clauses, segment_clauses, select_study_clauses, summarise_corpus, validate_clauses


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=validate_clauses,
                inputs=["raw_clauses", "params:data_processing"],
                outputs=["validated_clauses", "rejected_clauses"],
                name="validate_clauses",
            ),
            Node(
                func=prepare_clauses,
                inputs=["validated_clauses", "rejected_clauses", "params:data_processing"],
                outputs="clauses",
                name="prepare_clauses",
            ),
            Node(
                func=segment_clauses,
                inputs="clauses",
                outputs="clause_words",
                name="segment_clauses",
            ),
            Node(
                func=summarise_corpus,
                inputs=["clauses", "clause_words", "rejected_clauses"],
                outputs="corpus_summary",
                name="summarise_corpus",
            ),
            # The clauses every variant is evaluated and attributed on (one seeded, stratified sample)
            # are fixed here, once, so a later `kedro run --namespaces lora.m` of evaluation or
            # attribution finds them on disk.
            Node(
                func=select_study_clauses,
                inputs=["clauses", "corpus_summary", "params:data_processing.selection"],
                outputs="study_clauses",
                name="select_study_clauses",
            ),
        ],
        tags="data_processing",
    )
