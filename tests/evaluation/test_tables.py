"""Table columns stay distinct when model and baseline are the same model type."""

from neshmm.evaluation.tables import column_name


def test_distinct_types_use_model_names():
    roles = {"model": {"model": "hmm"}, "baseline": {"model": "markov"}}
    assert [column_name(roles, r) for r in roles] == ["hmm", "markov"]


def test_same_type_is_suffixed_with_role():
    roles = {"model": {"model": "markov"}, "baseline": {"model": "markov"}}
    assert [column_name(roles, r) for r in roles] == ["markov_model", "markov_baseline"]
