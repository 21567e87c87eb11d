"""The front door for model calls: one record per call, admission checks, the meter.

``FrontDoor`` is what every surface calls; ``AdmissionCheck`` is where a limit, a budget or a
privacy policy plugs in (one class, appended to ``FrontDoor.checks``).
"""

from aiaas.calls.admission import AdmissionCheck, ScopeCheck, Ticket
from aiaas.calls.call import CallResult, ModelCall, ResolvedCall
from aiaas.calls.front_door import CallStream, FrontDoor
from aiaas.calls.meter import Meter

__all__ = ["AdmissionCheck", "CallResult", "CallStream", "FrontDoor", "Meter", "ModelCall",
           "ResolvedCall", "ScopeCheck", "Ticket"]
