"""The builders of the derivation's six sections, each from the IR (derive/model.py)
through a shared Context (context.py): forward.py (the model, the loss),
gradients.py (activation derivatives, the chain rule at the output), backprop.py
(through the layers) and update.py (the optimizer's rule)."""
from .backprop import backprop_section
from .context import Context
from .forward import loss_section, model_section
from .gradients import activations_section, chain_rule_section
from .update import update_section

SECTION_BUILDERS = (model_section, loss_section, activations_section, chain_rule_section,
                    backprop_section, update_section)

__all__ = ["Context", "SECTION_BUILDERS"]
