"""The run query language: one filter for the console's Runs view (``/``) and the CLI's
``runs list|best --where EXPR``. Pure Python, torch-free; a hand-written tokenizer and a
recursive-descent parser compile the text into a test of a ``RunRecord`` (nothing is eval'd).

The language, by example::

    resnet24 digits                     plain words: each in the id, name, model, dataset,
                                        status, preset, ablation group or sweep (as before)
    model=resnet24                      a run field: = != < <= > >= (text: any case)
    best.val_acc>90%  test.acc>=0.9     90% is 0.9: accuracies are stored as fractions
    optim.lr<=1e-3  data.batch_size=128 any config key, section.key
    status!=failed  pinned=true         true/false for yes/no fields
    name~lr0*  name~mixup               ~ glob (* ? [..]), any case; without a wildcard: contains
    name!~digits*                       !~ the opposite of ~
    tag:baseline  tag:ablate-*          a tag (glob allowed); tags~best any tag containing best
    params<5M  created>=2025-03-13      k/M/G on numbers; dates compare as ISO text
    model=resnet24 and (optim.lr<0.01 or not tag:slow)
                                        and, or, not (any case), parentheses; a space between
                                        two terms means and; not binds tighter than and, and
                                        tighter than or
    name="my run"                       quotes for values with spaces or operators

Fields: the run's ``id name status preset model dataset device host created started finished
note message params epoch epochs elapsed_s tags archived pinned sweep ablation``, its best
epoch's ``best.epoch best.train_loss best.train_acc best.val_loss best.val_acc``, its test
result's ``test.acc test.loss``, and every config key (``optim.lr``, ``model.name``...; a
run saved before a key existed has that key's default, as everywhere else).

**A run without the value** (no best epoch yet, no test result, a field the run never had)
fails every comparison but ``!=`` and ``!~``, which are exactly ``not =`` and ``not ~``:
``best.val_acc<0.5`` leaves out the runs that have no best yet, ``best.val_acc!=0.5`` keeps
them, and so does ``status!=failed`` every run that is not failed. That is what "is not"
means to someone filtering a list (SQL's NULL, where both are false, surprises everyone).

Errors are ``QueryError`` (a ``UserError``): the message names the column (1-based) and
what was expected, and ``caret()`` gives the text with a ``^`` under that column. Comparing
a number field with a word, ``~`` on a number, ``<`` on a yes/no field, an accuracy above 1
written as a plain number (``best.val_acc>90``: write 0.9 or 90%) and an unknown status or
choice are refused at parse time, before any run is read. An unknown field names the
nearest known ones.

The modules: ``lexer`` (tokens, ``QueryError``), ``fields`` (what a name reads from a run),
``compare`` (one ``field op value`` made a test), ``parser`` (and/or/not, ``Query``).
"""

from engine.query.fields import Field, fields, suggest_field
from engine.query.lexer import QueryError
from engine.query.parser import Query, parse

__all__ = ["Field", "Query", "QueryError", "fields", "parse", "suggest_field"]
