# The whole firmware lives in lib/dialfw (and lib/dialwire); see firmware/README.md.
from dialfw.app import main

main()
