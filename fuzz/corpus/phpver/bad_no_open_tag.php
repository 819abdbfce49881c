return [
    'version' => '1.5.0',
];
