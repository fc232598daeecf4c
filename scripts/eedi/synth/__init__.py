"""Synthetic training questions for misconceptions train never shows (make synth).

    question_format  a question as the LLM writes it (Subject:, Construct:, Question:, A-D,
                     Correct:, Wrong:): render, parse, validate, and the train.csv row it becomes
    few_shot         each target misconception's nearest seen misconceptions (by the
                     retriever's embedding) and one real question of each, as examples
    generation       the writer's and the judge's prompts; HF generate, resumable by chunks
"""
