COMMENT
A leaky integrate-and-fire cell, written for parnrn's brunel example so that the example
runs under CoreNEURON as well as under NEURON (the CoreNEURON of NEURON's wheel has no
IntFire1). Its state m decays to 0 with time constant tau; an input event adds its weight
to m; when m passes 1 the cell fires, and m stays 0 while it ignores its inputs for
refrac ms. The refractory period is a comparison of times, not a self-event: NEURON
9.0.2 can crash taking CoreNEURON's pending self-events back after a run.
ENDCOMMENT

NEURON {
    ARTIFICIAL_CELL LeakyIF
    RANGE tau, refrac, m
    THREADSAFE
}

PARAMETER {
    tau = 10 (ms)
    refrac = 2 (ms)
}

ASSIGNED {
    m
    updated (ms)
    refractory_end (ms)
}

INITIAL {
    m = 0
    updated = t
    refractory_end = t
}

NET_RECEIVE (w) {
    if (t >= refractory_end) {
        m = m * exp((updated - t) / tau) + w
        updated = t
        if (m > 1) {
            m = 0
            refractory_end = t + refrac
            net_event(t)
        }
    }
}
