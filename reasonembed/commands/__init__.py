"""The sub-commands of the `reasonembed` CLI, one module each (`reasonembed.cli.COMMANDS`): the
command's arguments and a call into the library module of its area. The top floor: may import
any package; nothing imports it but `reasonembed.cli`."""
