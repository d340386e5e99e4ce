import os

import evaluate
from evaluate.utils import launch_gradio_widget


# Load the script beside this file by its path: that works in a Space (whose folder is not named after the script) and
# in a checkout of the addressvlm project alike. Elsewhere: evaluate.load("<namespace>/address_accuracy").
module = evaluate.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "address_accuracy.py"))
launch_gradio_widget(module)
