"""The model's components: one module per swappable piece of the funnel.

=================  ======================  ==========================================
piece              ``ModelConfig`` value   module
=================  ======================  ==========================================
outcome & timing   ``cycle="hazard"``      :mod:`.hazard` (NUTS)
                   ``cycle="lognormal"``   :mod:`.lognormal` (NUTS)
deal size          ``size="empirical"``    :mod:`.empirical_size` (direct)
                   ``size="lognormal"``    :mod:`.lognormal` (NUTS)
arrivals           ``arrivals="local_trend"`` :mod:`.local_trend` (direct)
                   ``arrivals="negbin"``   :mod:`.lognormal` (NUTS)
funnel stages      (always)                :mod:`.lognormal` (NUTS)
=================  ======================  ==========================================

PyMC is imported inside the builders only, so reading draws from a saved fit stays light.
"""
